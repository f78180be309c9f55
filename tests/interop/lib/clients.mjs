// gRPC clients (grpc-js) for every service tracebucket serves, built from the project's own .proto files.
// Streamed responses keep their exact wire size (non-enumerable `wireSize`), so tests can check the 4 MiB rule.
import grpc from '@grpc/grpc-js';
import { loadProtos } from './proto.mjs';
import { spansFromProto } from './canonical.mjs';
import { nanosFromTimestamp } from './fixtures.mjs';

const DEFAULT_DEADLINE_MS = 60_000;

/** Client constructor for `serviceName` whose response deserialiser records the wire size of each message. */
function clientCtor(serviceName) {
  const def = loadProtos().packageDefinition[serviceName];
  if (!def) throw new Error(`service ${serviceName} not in the loaded protos`);
  const wrapped = {};
  for (const [name, m] of Object.entries(def)) {
    wrapped[name] = {
      ...m,
      responseDeserialize: (buf) => {
        const obj = m.responseDeserialize(buf);
        Object.defineProperty(obj, 'wireSize', { value: buf.length, enumerable: false });
        return obj;
      },
    };
  }
  return grpc.makeGenericClientConstructor(wrapped, serviceName);
}

const deadline = (ms) => new Date(Date.now() + (ms ?? DEFAULT_DEADLINE_MS));

/**
 * A grpc-js client interceptor that adds `headers` ({name: value}) to every call's metadata: how a test sends the
 * tenant header or a bearer token on every call of a client (pass it as `{interceptors: [withMetadata(...)]}`).
 */
export function withMetadata(headers) {
  return (options, nextCall) => new grpc.InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      for (const [name, value] of Object.entries(headers)) metadata.set(name, value);
      next(metadata, listener);
    },
  });
}

export class TbClients {
  /**
   * @param {string} address host:port
   * @param {object} [channelOptions] grpc-js channel and client options (e.g. interceptors: withMetadata); defaults
   *   keep grpc's 4 MiB receive limit, like Jaeger
   * @param {object} [credentials] grpc-js channel credentials (default: insecure)
   */
  constructor(address, channelOptions = {}, credentials = grpc.credentials.createInsecure()) {
    const creds = credentials;
    const opts = { 'grpc.max_send_message_length': 64 * 1024 * 1024, ...channelOptions };
    this.address = address;
    this.traceService = new (clientCtor('opentelemetry.proto.collector.trace.v1.TraceService'))(address, creds, opts);
    this.traceReader = new (clientCtor('jaeger.storage.v2.TraceReader'))(address, creds, opts);
    this.dependencyReader = new (clientCtor('jaeger.storage.v2.DependencyReader'))(address, creds, opts);
    this.capabilities = new (clientCtor('jaeger.storage.v2.Capabilities'))(address, creds, opts);
    this.health = new (clientCtor('grpc.health.v1.Health'))(address, creds, opts);
  }

  close() {
    for (const c of [this.traceService, this.traceReader, this.dependencyReader, this.capabilities, this.health]) c.close();
  }

  #unary(client, method, request, { deadlineMs, metadata } = {}) {
    return new Promise((resolve, reject) => {
      client[method](request, metadata ?? new grpc.Metadata(), { deadline: deadline(deadlineMs) }, (err, res) => {
        if (err) reject(err);
        else resolve(res);
      });
    });
  }

  /**
   * Runs a server-streaming call to the end.
   * @returns {Promise<object[]>} the messages (each with `wireSize`); rejects with the gRPC error on a non-OK status
   */
  #stream(client, method, request, { deadlineMs, metadata } = {}) {
    return new Promise((resolve, reject) => {
      const messages = [];
      const call = client[method](request, metadata ?? new grpc.Metadata(), { deadline: deadline(deadlineMs) });
      call.on('data', (m) => messages.push(m));
      call.on('error', (err) => { err.messagesBeforeError = messages; reject(err); });
      call.on('status', (st) => { if (st.code === grpc.status.OK) resolve(messages); });
    });
  }

  export(request, opts) { return this.#unary(this.traceService, 'Export', request, opts); }
  getServices(opts) { return this.#unary(this.traceReader, 'GetServices', {}, opts); }
  getOperations(service, spanKind = '', opts) {
    return this.#unary(this.traceReader, 'GetOperations', { service, spanKind }, opts);
  }
  findTraceIds(query, opts) { return this.#unary(this.traceReader, 'FindTraceIDs', { query }, opts); }
  getDependencies(startTime, endTime, opts) {
    return this.#unary(this.dependencyReader, 'GetDependencies', { startTime, endTime }, opts);
  }
  getCapabilities(opts) { return this.#unary(this.capabilities, 'GetCapabilities', {}, opts); }
  healthCheck(service = '', opts) { return this.#unary(this.health, 'Check', { service }, opts); }

  /** GetTraces for hex ids (or Buffers); start/end hints as Jaeger sends them when unknown (year 0001). */
  getTraces(ids, { startTime, endTime, ...opts } = {}) {
    const zero = { seconds: '-62135596800', nanos: 0 };
    const query = ids.map((id) => ({
      traceId: Buffer.isBuffer(id) ? id : Buffer.from(id, 'hex'),
      startTime: startTime ?? zero,
      endTime: endTime ?? zero,
    }));
    return this.#stream(this.traceReader, 'GetTraces', { query }, opts);
  }
  findTraces(query, opts) { return this.#stream(this.traceReader, 'FindTraces', { query }, opts); }
  findTraceSummaries(query, opts) { return this.#stream(this.traceReader, 'FindTraceSummaries', { query }, opts); }
}

/**
 * Checks the chunking contract of a TracesData stream (docs/jaeger-semantics.md §2.2) and reassembles it:
 * no empty chunk; one trace id per chunk; a trace's chunks are consecutive; every chunk under `maxBytes`.
 * @returns {{problems: string[], order: string[], spans: object[], spansByTrace: Map<string, object[]>, maxWireSize: number}}
 */
export function assembleStream(messages, { maxBytes = 4 * 1024 * 1024 } = {}) {
  const problems = [];
  const order = [];
  const spansByTrace = new Map();
  const all = [];
  let maxWireSize = 0;
  messages.forEach((m, i) => {
    const spans = spansFromProto(m);
    if (m.wireSize !== undefined) {
      maxWireSize = Math.max(maxWireSize, m.wireSize);
      if (m.wireSize >= maxBytes) problems.push(`chunk ${i}: ${m.wireSize} bytes, not under ${maxBytes}`);
    }
    if (!spans.length) { problems.push(`chunk ${i}: empty TracesData`); return; }
    const ids = [...new Set(spans.map((s) => s.traceId))];
    if (ids.length > 1) problems.push(`chunk ${i}: spans of ${ids.length} traces (${ids.join(', ')})`);
    const id = spans[0].traceId;
    if (order[order.length - 1] !== id) {
      if (spansByTrace.has(id)) problems.push(`chunk ${i}: trace ${id} resumes after another trace (interleaved chunks)`);
      else order.push(id);
    }
    if (!spansByTrace.has(id)) spansByTrace.set(id, []);
    spansByTrace.get(id).push(...spans);
    all.push(...spans);
  });
  return { problems, order, spans: all, spansByTrace, maxWireSize };
}

/** Hex trace ids of a FindTraceIDsResponse, checking each is exactly 16 bytes and start/end hints are sane. */
export function foundTraceIds(resp) {
  const problems = [];
  const ids = (resp.traceIds ?? []).map((f, i) => {
    const id = Buffer.from(f.traceId);
    if (id.length !== 16) problems.push(`trace_ids[${i}]: ${id.length} bytes, expected 16`);
    for (const k of ['start', 'end']) {
      const ts = f[k];
      if (ts && nanosFromTimestamp(ts) === 0n) problems.push(`trace_ids[${i}].${k}: {0,0} (1970) sent; omit unknown times`);
    }
    if (f.start && f.end && nanosFromTimestamp(f.start) > nanosFromTimestamp(f.end)) {
      problems.push(`trace_ids[${i}]: start after end`);
    }
    return id.toString('hex');
  });
  return { ids, problems };
}
