// grpc-js clients for Jaeger Remote Storage API v1 (jaeger.storage.v1) and go-plugin's controller, built from the
// project's own .proto files with lib/proto.mjs's loader options, plus conversions between proto-loader v1 spans and
// the plain Jaeger span shape of lib/jaeger_expected.mjs (the contract in helpers' jaeger_shared.md):
//   { traceId (32 hex), spanId (16 hex), operationName, flags, references: [{refType, traceId, spanId}],
//     startTimeUnixNano, durationNanos (decimal strings), tags: [{key, type, value}], logs: [{timestampUnixNano,
//     fields}], process: {serviceName, tags}, warnings }   with tag value: int64 → decimal string, binary → base64.
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { LOADER_OPTIONS } from './proto.mjs';
import { durationFromNanos, queryToParams, timestampFromNanos } from './fixtures.mjs';

const V1_PROTO_FILES = ['jaeger/storage/v1/storage.proto', 'plugin/grpc_controller.proto', 'grpc/health/v1/health.proto'];
const DEFAULT_DEADLINE_MS = 60_000;
const MAX_CHUNK_BYTES = 4 * 1024 * 1024; // Jaeger's v1 client keeps grpc's default receive limit

let loaded;
function services() {
  if (!loaded) loaded = grpc.loadPackageDefinition(protoLoader.loadSync(V1_PROTO_FILES, LOADER_OPTIONS));
  return loaded;
}

const deadline = (ms) => ({ deadline: new Date(Date.now() + (ms ?? DEFAULT_DEADLINE_MS)) });

function unary(client, method, request, opts = {}) {
  return new Promise((resolve, reject) => {
    client[method](request, new grpc.Metadata(), deadline(opts.deadlineMs), (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** Runs a server-streaming call to the end; each message keeps its wire size (non-enumerable `wireSize`). */
function stream(client, method, request, opts = {}) {
  return new Promise((resolve, reject) => {
    const messages = [];
    const call = client[method](request, new grpc.Metadata(), deadline(opts.deadlineMs));
    call.on('data', (m) => messages.push(m));
    call.on('error', (err) => { err.messagesBeforeError = messages; reject(err); });
    call.on('status', (st) => { if (st.code === grpc.status.OK) resolve(messages); });
  });
}

/** Records each response message's wire size, so chunk tests can check the 4 MiB rule. */
function sizedClient(Ctor, address, options) {
  const wrapped = {};
  for (const [name, m] of Object.entries(Ctor.service)) {
    wrapped[name] = {
      ...m,
      originalName: undefined, // proto-loader's camelCase alias of Close would hide the client's own close()
      responseDeserialize: (buf) => {
        const obj = m.responseDeserialize(buf);
        Object.defineProperty(obj, 'wireSize', { value: buf.length, enumerable: false });
        return obj;
      },
    };
  }
  const { credentials = grpc.credentials.createInsecure(), ...clientOptions } = options;
  return new (grpc.makeGenericClientConstructor(wrapped, Ctor.serviceName))(address, credentials, clientOptions);
}

export class V1Clients {
  /** @param {object} [options] grpc-js client options (e.g. interceptors), and `credentials` (default: insecure) */
  constructor(address, options = {}) {
    const s = services();
    const v1 = s.jaeger.storage.v1;
    this.writer = sizedClient(v1.SpanWriterPlugin, address, options);
    this.streamingWriter = sizedClient(v1.StreamingSpanWriterPlugin, address, options);
    this.reader = sizedClient(v1.SpanReaderPlugin, address, options);
    this.dependencies = sizedClient(v1.DependenciesReaderPlugin, address, options);
    this.capabilitiesClient = sizedClient(v1.PluginCapabilities, address, options);
    this.controller = sizedClient(s.plugin.GRPCController, address, options);
    this.health = sizedClient(s.grpc.health.v1.Health, address, options);
  }

  close() {
    for (const c of [this.writer, this.streamingWriter, this.reader, this.dependencies, this.capabilitiesClient,
      this.controller, this.health]) c.close();
  }

  writeSpan(span, opts) { return unary(this.writer, 'WriteSpan', { span }, opts); }
  closeWriter(opts) { return unary(this.writer, 'Close', {}, opts); }

  /** One client stream carrying every span, closed at the end (CloseAndRecv). */
  writeSpanStream(spans, opts = {}) {
    return new Promise((resolve, reject) => {
      const call = this.streamingWriter.WriteSpanStream(new grpc.Metadata(), deadline(opts.deadlineMs),
        (err, res) => (err ? reject(err) : resolve(res)));
      for (const span of spans) call.write({ span });
      call.end();
    });
  }

  getTrace(traceIdHex, opts) {
    const zero = { seconds: '-62135596800', nanos: 0 };
    return stream(this.reader, 'GetTrace', { traceId: Buffer.from(traceIdHex, 'hex'), startTime: zero, endTime: zero }, opts);
  }
  getServices(opts) { return unary(this.reader, 'GetServices', {}, opts); }
  getOperations(service, spanKind = '', opts) { return unary(this.reader, 'GetOperations', { service, spanKind }, opts); }
  findTraces(query, opts) { return stream(this.reader, 'FindTraces', { query }, opts); }
  findTraceIds(query, opts) { return unary(this.reader, 'FindTraceIDs', { query }, opts); }
  getDependencies(startTime, endTime, opts) {
    return unary(this.dependencies, 'GetDependencies', { startTime, endTime }, opts);
  }
  capabilities(opts) { return unary(this.capabilitiesClient, 'Capabilities', {}, opts); }
  shutdown(opts) { return unary(this.controller, 'Shutdown', {}, opts); }
  healthCheck(service, opts) { return unary(this.health, 'Check', { service }, opts); }
}

// ---------------------------------------------------------------------------------------------------------------
// Queries

/**
 * v1 TraceQueryParameters for a queries.json `Query`, filled as Jaeger's gogo client fills them (every time and
 * duration present, unset ones as year 0001 / zero); tag values are strings, as v1 carries them.
 */
export function queryToV1Params(q) {
  const p = queryToParams(q, { typed: false });
  return {
    serviceName: p.serviceName,
    operationName: p.operationName,
    tags: Object.fromEntries(p.attributes.map((a) => [a.key, a.value.stringValue])),
    startTimeMin: p.startTimeMin,
    startTimeMax: p.startTimeMax,
    durationMin: p.durationMin,
    durationMax: p.durationMax,
    numTraces: p.searchDepth,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Span shapes

const VALUE_TYPES = ['string', 'bool', 'int64', 'float64', 'binary'];
const REF_TYPES = ['CHILD_OF', 'FOLLOWS_FROM'];
const nanos = (ts) => (BigInt(ts?.seconds ?? 0) * 1_000_000_000n + BigInt(ts?.nanos ?? 0)).toString();
const hex = (b) => Buffer.from(b ?? []).toString('hex');

function tagFromProto(kv) {
  const type = VALUE_TYPES[kv.vType];
  if (type === undefined) throw new Error(`tag ${kv.key}: unknown vType ${kv.vType}`);
  const value = {
    string: () => kv.vStr,
    bool: () => kv.vBool,
    int64: () => BigInt(kv.vInt64).toString(),
    float64: () => kv.vFloat64,
    binary: () => Buffer.from(kv.vBinary).toString('base64'),
  }[type]();
  return { key: kv.key, type, value };
}

/** A proto-loader jaeger.api_v2.Span → the plain shape; throws on what Jaeger's own decoder would refuse. */
export function jaegerSpanFromProto(s) {
  const traceId = Buffer.from(s.traceId);
  const spanId = Buffer.from(s.spanId);
  if (traceId.length !== 16) throw new Error(`trace_id of ${traceId.length} bytes (Jaeger's decoder wants 16)`);
  if (spanId.length !== 8) throw new Error(`span_id of ${spanId.length} bytes (Jaeger's decoder wants 8)`);
  if (!s.startTime || !s.duration) throw new Error(`span ${hex(spanId)} without start_time or duration`);
  if (!s.process) throw new Error(`span ${hex(spanId)} without process (Jaeger's UI conversion needs it)`);
  return {
    traceId: hex(traceId),
    spanId: hex(spanId),
    operationName: s.operationName,
    flags: s.flags,
    references: s.references.map((r) => {
      if (Buffer.from(r.traceId).length !== 16 || Buffer.from(r.spanId).length !== 8) throw new Error('reference ids of bad length');
      return { refType: REF_TYPES[r.refType], traceId: hex(r.traceId), spanId: hex(r.spanId) };
    }),
    startTimeUnixNano: nanos(s.startTime),
    durationNanos: nanos(s.duration),
    tags: s.tags.map(tagFromProto),
    logs: s.logs.map((l) => ({ timestampUnixNano: nanos(l.timestamp), fields: l.fields.map(tagFromProto) })),
    process: { serviceName: s.process.serviceName, tags: s.process.tags.map(tagFromProto) },
    warnings: [...s.warnings],
  };
}

function tagToProto(t) {
  const kv = { key: t.key, vType: VALUE_TYPES.indexOf(t.type) };
  if (kv.vType < 0) throw new Error(`tag ${t.key}: unknown type ${t.type}`);
  if (t.type === 'string') kv.vStr = t.value;
  if (t.type === 'bool') kv.vBool = t.value;
  if (t.type === 'int64') kv.vInt64 = String(t.value);
  if (t.type === 'float64') kv.vFloat64 = t.value;
  if (t.type === 'binary') kv.vBinary = Buffer.from(t.value, 'base64');
  return kv;
}

/** The plain shape → a proto-loader jaeger.api_v2.Span, as a Jaeger v1 writer sends it (process set, no process_id). */
export function jaegerSpanToProto(s) {
  return {
    traceId: Buffer.from(s.traceId, 'hex'),
    spanId: Buffer.from(s.spanId, 'hex'),
    operationName: s.operationName,
    flags: s.flags ?? 0,
    references: s.references.map((r) => ({
      traceId: Buffer.from(r.traceId, 'hex'), spanId: Buffer.from(r.spanId, 'hex'), refType: REF_TYPES.indexOf(r.refType),
    })),
    startTime: timestampFromNanos(s.startTimeUnixNano),
    duration: durationFromNanos(s.durationNanos),
    tags: s.tags.map(tagToProto),
    logs: s.logs.map((l) => ({ timestamp: timestampFromNanos(l.timestampUnixNano), fields: l.fields.map(tagToProto) })),
    process: { serviceName: s.process.serviceName, tags: s.process.tags.map(tagToProto) },
    warnings: s.warnings ?? [],
  };
}

/**
 * Checks a SpansResponseChunk stream the way Jaeger's v1 client reads it (a new trace starts whenever the trace id
 * changes, so one trace's spans must be contiguous) and returns the spans in the plain shape.
 * @returns {{problems: string[], order: string[], spans: object[]}}
 */
export function assembleV1Stream(messages, { maxSpansPerChunk = 1000 } = {}) {
  const problems = [];
  const order = [];
  const spans = [];
  messages.forEach((m, i) => {
    if (!m.spans.length) problems.push(`chunk ${i}: no spans`);
    if (m.spans.length > maxSpansPerChunk) problems.push(`chunk ${i}: ${m.spans.length} spans, more than ${maxSpansPerChunk}`);
    if (m.wireSize !== undefined && m.wireSize >= MAX_CHUNK_BYTES) problems.push(`chunk ${i}: ${m.wireSize} bytes`);
    for (const pb of m.spans) {
      let s;
      try {
        s = jaegerSpanFromProto(pb);
      } catch (err) {
        problems.push(`chunk ${i}: ${err.message}`);
        continue;
      }
      if (order[order.length - 1] !== s.traceId) {
        if (order.includes(s.traceId)) problems.push(`chunk ${i}: trace ${s.traceId} resumes after another trace`);
        else order.push(s.traceId);
      }
      spans.push(s);
    }
  });
  return { problems, order, spans };
}
