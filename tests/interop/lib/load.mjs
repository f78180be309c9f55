// Load generation and bookkeeping for the durability and back-pressure suites.
//
// Every request is a pure function of (profile, run tag, base time, phase, client, seq): spans, ids, times and
// attributes come from a PRNG seeded with those numbers. The ledger records which requests were acknowledged and,
// per span, a digest of the bytes that were sent; a request is regenerated only to explain a difference. Ids encode
// their origin:
//   trace id (16 bytes) = run tag (4) | kind (1: 1 fresh trace of one request, 2 a client's long trace of a phase)
//                         | phase (1) | client (2) | seq (4, 0 for long traces) | trace index (4, 0 for long traces)
//   span id  (8 bytes)  = phase (1, ≥ 1 so never zero) | client (1) | seq (4) | span index (2)
// so any span read back can be traced to the request that carried it.
// Clients: @grpc/grpc-js with the project's protos (through lib/clients.mjs / lib/proto.mjs) and Node's fetch.
import crypto from 'node:crypto';
import fs from 'node:fs';
import grpc from '@grpc/grpc-js';
import { TbClients } from './clients.mjs';
import { decodeMessage, encodeMessage, loadProtos } from './proto.mjs';
import { diffTraces, spansFromProto } from './canonical.mjs';
import { decodeRpcStatus, retryDelayMsOf } from './rpc_status.mjs';

export const EXPORT_REQUEST = 'opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest';
const TRACES_DATA = 'opentelemetry.proto.trace.v1.TracesData';
const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

// ---------------------------------------------------------------------------------------------------------------
// Deterministic randomness

/** mulberry32: a small, fast, seedable 32-bit PRNG; returns floats in [0, 1). */
export function makeRng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function seedOf(...parts) {
  // FNV-1a over the decimal parts.
  let h = 0x811c9dc5;
  for (const ch of parts.join('/')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

const pick = (rng, list) => list[Math.floor(rng() * list.length)];
const between = (rng, lo, hi) => lo + Math.floor(rng() * (hi - lo + 1));

// ---------------------------------------------------------------------------------------------------------------
// Ids

export const KIND_FRESH = 1;
export const KIND_LONG = 2;

export function traceIdFor(runTag, kind, phase, client, seq, index) {
  const b = Buffer.alloc(16);
  runTag.copy(b, 0, 0, 4);
  b[4] = kind;
  b[5] = phase;
  b.writeUInt16BE(client, 6);
  b.writeUInt32BE(seq, 8);
  b.writeUInt32BE(index, 12);
  return b;
}

export function spanIdFor(phase, client, seq, index) {
  if (phase < 1 || phase > 255 || client > 255 || index > 0xffff) throw new Error('span id field out of range');
  const b = Buffer.alloc(8);
  b[0] = phase;
  b[1] = client;
  b.writeUInt32BE(seq, 2);
  b.writeUInt16BE(index, 6);
  return b;
}

/** (phase, client, seq) of the request that carried a span, from its hex span id. */
export function originOfSpanId(hex) {
  const b = Buffer.from(hex, 'hex');
  if (b.length !== 8) return null;
  return { phase: b[0], client: b[1], seq: b.readUInt32BE(2), index: b.readUInt16BE(6) };
}

export const requestKey = (phase, client, seq) => `${phase}/${client}/${seq}`;

// ---------------------------------------------------------------------------------------------------------------
// Request generation

const ROUTES = ['/api/v1/orders', '/api/v1/orders/{id}', '/api/v1/cart', '/api/v1/users/{id}/profile', '/healthz',
  '/api/v2/search', '/api/v1/payments/{id}/capture', '/static/{path}'];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'];
const OPERATIONS = ['HTTP GET', 'HTTP POST', 'SELECT orders', 'INSERT payments', 'cache.get', 'cache.set',
  'publish order.created', 'grpc.Checkout/PlaceOrder', 'render template', 'auth.verify'];
const USER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15',
  'okhttp/4.12.0', 'curl/8.5.0', 'Go-http-client/2.0',
];

const str = (key, v) => ({ key, value: { stringValue: v } });
const int = (key, v) => ({ key, value: { intValue: String(v) } });
const dbl = (key, v) => ({ key, value: { doubleValue: v } });
const bool = (key, v) => ({ key, value: { boolValue: v } });

/**
 * Request profiles.
 *  durability: 50–200 spans per request in fresh traces of 5–40 spans, plus 3 spans of the client's long trace of
 *              the phase (so one trace collects spans from many requests, some of them unacknowledged); ~9 attributes
 *              of every type, an event on some spans, a link on some.
 *  flood:      `spans` spans per request in fresh traces of 50 spans with ~18 realistic attributes (URLs, user
 *              agents, SQL statements, a few hundred bytes per span) — what an instrumented web service sends.
 */
export const PROFILES = {
  durability: { minSpans: 50, maxSpans: 200, minTrace: 5, maxTrace: 40, longSpans: 3, heavy: false },
  flood: { minSpans: 1000, maxSpans: 1000, minTrace: 50, maxTrace: 50, longSpans: 0, heavy: true },
};

function spanAttributes(rng, heavy, client, seq, i) {
  const method = pick(rng, METHODS);
  const route = pick(rng, ROUTES);
  const status = pick(rng, [200, 200, 200, 201, 204, 400, 404, 500, 503]);
  const attrs = [
    str('http.request.method', method),
    str('http.route', route),
    int('http.response.status_code', status),
    int('load.seq', seq),
    int('load.index', i),
    dbl('load.ratio', Math.round(rng() * 1e6) / 1e3),
    bool('load.retry', rng() < 0.1),
    str('load.client', `client-${client}`),
  ];
  if (rng() < 0.3) {
    attrs.push({ key: 'load.tags', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: String(i) }] } } });
  }
  if (heavy) {
    const id = between(rng, 1, 1e9);
    attrs.push(
      str('url.full', `https://shop.example.com${route.replace('{id}', String(id)).replace('{path}', 'app.js')}?session=${id.toString(36)}&ref=campaign-${between(rng, 1, 999)}`),
      str('user_agent.original', pick(rng, USER_AGENTS)),
      str('db.system', 'postgresql'),
      str('db.statement', `SELECT o.id, o.status, o.total_cents, o.created_at, c.email FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.customer_id = $1 AND o.created_at > $2 ORDER BY o.created_at DESC LIMIT ${between(rng, 10, 100)}`),
      str('net.peer.name', `db-${between(rng, 1, 12)}.internal.example.com`),
      int('net.peer.port', 5432),
      str('enduser.id', `user-${between(rng, 1, 5_000_000)}`),
      str('thread.name', `worker-${between(rng, 1, 64)}`),
      int('thread.id', between(rng, 1000, 99999)),
      str('code.function', 'com.example.shop.orders.OrderRepository.findRecentByCustomer'),
    );
  }
  return attrs;
}

/**
 * One ExportTraceServiceRequest as a proto-loader object (Buffers for ids, decimal strings for 64-bit values).
 * @returns {{request: object, spans: number, traceIds: string[]}} traceIds: hex ids of the traces it touches
 */
export function buildRequest({ profile = 'durability', runTag, baseNs, phase, client, seq }) {
  const p = PROFILES[profile];
  if (!p) throw new Error(`unknown profile ${profile}`);
  const rng = makeRng(seedOf(profile, runTag.toString('hex'), phase, client, seq));
  const total = between(rng, p.minSpans, p.maxSpans);
  const spans = [];
  const traceIds = [];
  const t0 = BigInt(baseNs) + BigInt(phase) * 60_000_000_000n + BigInt(seq) * 1_000_000n;
  let index = 0;
  const makeSpan = (traceId, parent) => {
    const i = index++;
    const start = t0 + BigInt(i) * 1000n;
    // Zero / empty fields are left out (see "Verification" below).
    const span = {
      traceId,
      spanId: spanIdFor(phase, client, seq, i),
      name: pick(rng, OPERATIONS),
      kind: between(rng, 1, 5),
      startTimeUnixNano: start.toString(),
      endTimeUnixNano: (start + BigInt(between(rng, 1_000, 500_000_000))).toString(),
      attributes: spanAttributes(rng, p.heavy, client, seq, i),
    };
    if (parent) span.parentSpanId = parent;
    if (rng() < 0.05) span.traceState = 'vendor=load';
    if (rng() < 0.5) span.flags = 0x101; // sampled, has-is-remote
    if (rng() < 0.05) span.droppedAttributesCount = 3;
    if (rng() < 0.1) span.status = { message: 'upstream returned 503', code: 2 };
    else if (rng() < 0.2) span.status = { code: 1 };
    if (rng() < 0.2) {
      span.events = [{
        timeUnixNano: (start + 500n).toString(),
        name: 'exception',
        attributes: [str('exception.type', 'java.net.SocketTimeoutException'), str('exception.message', `read timed out after ${between(rng, 100, 5000)} ms`)],
      }];
    }
    if (rng() < 0.1) {
      span.links = [{ traceId: traceIdFor(runTag, KIND_FRESH, phase, client, seq, 9999), spanId: spanIdFor(phase, client, seq, 0xffff), attributes: [str('link.reason', 'batch')] }];
    }
    spans.push(span);
    return span;
  };
  // fresh traces
  let traceIndex = 0;
  let remaining = total;
  while (remaining > 0) {
    const n = Math.min(remaining, between(rng, p.minTrace, p.maxTrace));
    const traceId = traceIdFor(runTag, KIND_FRESH, phase, client, seq, traceIndex++);
    traceIds.push(traceId.toString('hex'));
    const root = makeSpan(traceId, null);
    const members = [root];
    for (let k = 1; k < n; k++) members.push(makeSpan(traceId, pick(rng, members).spanId));
    remaining -= n;
  }
  // the client's long trace of this phase
  if (p.longSpans) {
    const longId = traceIdFor(runTag, KIND_LONG, phase, client, 0, 0);
    traceIds.push(longId.toString('hex'));
    for (let k = 0; k < p.longSpans; k++) makeSpan(longId, null);
  }
  const request = {
    resourceSpans: [{
      resource: {
        attributes: [
          str('service.name', `load-${profile}-${client % 4}`),
          str('service.instance.id', `instance-${client}`),
          str('host.name', `node-${client}.example.com`),
          int('process.pid', 1000 + client),
          str('telemetry.sdk.language', 'nodejs'),
        ],
      },
      scopeSpans: [{ scope: { name: 'tracebucket-load', version: '1.0.0' }, spans }],
      schemaUrl: 'https://opentelemetry.io/schemas/1.24.0',
    }],
  };
  return { request, spans: spans.length, traceIds };
}

// ---------------------------------------------------------------------------------------------------------------
// Ledger: which requests were acknowledged, which failed

export class Ledger {
  constructor({ profile = 'durability', runTag = crypto.randomBytes(4), baseNs = BigInt(Date.now()) * 1_000_000n } = {}) {
    this.profile = profile;
    this.runTag = runTag;
    this.baseNs = baseNs;
    this.acked = new Map(); // key → {phase, client, seq, spans, traceIds, at}
    this.failed = new Map(); // key → {phase, client, seq, spans, traceIds, at, code, details}
    this.digests = new Map(); // key → [["trace/span", digest]] of the bytes that were sent
  }

  spec(phase, client, seq) {
    return { profile: this.profile, runTag: this.runTag, baseNs: this.baseNs, phase, client, seq };
  }

  build(phase, client, seq) { return buildRequest(this.spec(phase, client, seq)); }

  /** Request `built` plus its encoding (`built.bytes`), ready for RawExporter. */
  buildEncoded(phase, client, seq) {
    const built = this.build(phase, client, seq);
    built.bytes = encodeExport(built.request);
    return built;
  }

  #remember(key, built) {
    if (this.digests.has(key)) return;
    const d = [];
    forEachSpanDigest(built.bytes ?? encodeExport(built.request), (t, sp, dg) => d.push([`${t}/${sp}`, dg]));
    this.digests.set(key, d);
  }

  ack(phase, client, seq, built) {
    const key = requestKey(phase, client, seq);
    this.#remember(key, built);
    this.failed.delete(key); // a retried request that finally went through
    this.acked.set(key, { phase, client, seq, spans: built.spans, traceIds: built.traceIds, at: Date.now() });
  }

  fail(phase, client, seq, built, err) {
    const key = requestKey(phase, client, seq);
    this.#remember(key, built);
    this.failed.set(key, {
      phase, client, seq, spans: built.spans, traceIds: built.traceIds, at: Date.now(), code: err.code, details: err.details ?? err.message,
    });
  }

  ackedSpans(phase) {
    let n = 0;
    for (const r of this.acked.values()) if (phase === undefined || r.phase === phase) n += r.spans;
    return n;
  }

  ackedRequests(phase) {
    return [...this.acked.values()].filter((r) => phase === undefined || r.phase === phase);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Verification
//
// Spans are compared by their protobuf encoding: the Span message's bytes plus the bytes of the Resource, the
// InstrumentationScope and both schema URLs it came with (so regrouping on the wire does not matter). The request
// objects above leave out every zero/empty scalar, so protobufjs (proto-loader's encoder) writes them as protobuf's
// own serialiser does (fields in number order, defaults omitted); equal bytes therefore mean equal spans. When the
// bytes differ, the span is decoded and compared field by field with lib/canonical.mjs (attributes sorted, typed
// values); only a difference there is a failure, a pure encoding difference is merely counted.

function readVarint(buf, p) {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    const b = buf[p++];
    if (b === undefined) throw new Error('truncated varint');
    v += (b & 0x7f) * mul;
    if (!(b & 0x80)) return [v, p];
    mul *= 128;
  }
  throw new Error('varint too long');
}

/** Calls fn(fieldNumber, start, end) for every length-delimited field of the message in buf[start, end). */
function forEachLenField(buf, start, end, fn) {
  let p = start;
  while (p < end) {
    let tag;
    [tag, p] = readVarint(buf, p);
    const wt = tag & 7;
    const no = Math.floor(tag / 8);
    if (wt === 2) {
      let len;
      [len, p] = readVarint(buf, p);
      if (p + len > end) throw new Error('length-delimited field overruns its message');
      fn(no, p, p + len);
      p += len;
    } else if (wt === 0) [, p] = readVarint(buf, p);
    else if (wt === 1) p += 8;
    else if (wt === 5) p += 4;
    else throw new Error(`unexpected wire type ${wt}`);
  }
  if (p !== end) throw new Error('message overruns its end');
}

const sha1 = () => crypto.createHash('sha1');

/**
 * Calls fn(traceHex, spanHex, digest) for every span in the encoding of a TracesData or ExportTraceServiceRequest
 * (both have `repeated ResourceSpans resource_spans = 1`).
 */
export function forEachSpanDigest(buf, fn) {
  forEachLenField(buf, 0, buf.length, (f, rsStart, rsEnd) => {
    if (f !== 1) return;
    let resource = buf.subarray(0, 0);
    let rsSchema = resource;
    const scopeSpans = [];
    forEachLenField(buf, rsStart, rsEnd, (f2, s2, e2) => {
      if (f2 === 1) resource = buf.subarray(s2, e2);
      else if (f2 === 2) scopeSpans.push([s2, e2]);
      else if (f2 === 3) rsSchema = buf.subarray(s2, e2);
    });
    for (const [ssStart, ssEnd] of scopeSpans) {
      let scope = buf.subarray(0, 0);
      let ssSchema = scope;
      const spans = [];
      forEachLenField(buf, ssStart, ssEnd, (f3, s3, e3) => {
        if (f3 === 1) scope = buf.subarray(s3, e3);
        else if (f3 === 2) spans.push([s3, e3]);
        else if (f3 === 3) ssSchema = buf.subarray(s3, e3);
      });
      const ctx = sha1();
      for (const part of [resource, rsSchema, scope, ssSchema]) ctx.update(`${part.length}:`).update(part);
      const context = ctx.digest();
      for (const [spStart, spEnd] of spans) {
        let traceHex = '';
        let spanHex = '';
        forEachLenField(buf, spStart, spEnd, (f4, s4, e4) => {
          if (f4 === 1) traceHex = buf.toString('hex', s4, e4);
          else if (f4 === 2) spanHex = buf.toString('hex', s4, e4);
        });
        fn(traceHex, spanHex, sha1().update(context).update(buf.subarray(spStart, spEnd)).digest('base64'));
      }
    }
  });
}

/** Number of spans in the encoding of a TracesData / ExportTraceServiceRequest. */
export function countSpans(buf) {
  let n = 0;
  forEachSpanDigest(buf, () => { n++; });
  return n;
}

/** [["trace/span", digest]] of one request, as recorded when it was sent (or regenerated). */
function requestDigests(ledger, r) {
  const key = requestKey(r.phase, r.client, r.seq);
  let d = ledger.digests.get(key);
  if (!d) {
    d = [];
    forEachSpanDigest(encodeExport(ledger.build(r.phase, r.client, r.seq).request), (t, s, dg) => d.push([`${t}/${s}`, dg]));
    ledger.digests.set(key, d);
  }
  return d;
}

/** The canonical span `spanHex` of trace `traceHex` as `ledger` generated it (for diff messages). */
function regenerateSpan(ledger, traceHex, spanHex) {
  const o = originOfSpanId(spanHex);
  if (!o) return null;
  const built = ledger.build(o.phase, o.client, o.seq);
  return spansFromProto(built.request).find((s) => s.traceId === traceHex && s.spanId === spanHex) ?? null;
}

/** jaeger.storage.v2.TraceReader/GetTraces returning each TracesData chunk as its raw bytes. */
export class RawReader {
  constructor(address) {
    const m = loadProtos().packageDefinition['jaeger.storage.v2.TraceReader'].GetTraces;
    const Ctor = grpc.makeGenericClientConstructor({ GetTraces: { ...m, responseDeserialize: (b) => b } }, 'RawTraceReader');
    this.client = new Ctor(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  }

  /** @param {string[]} ids hex trace ids @returns {Promise<Buffer[]>} */
  getTraces(ids, { deadlineMs = 60_000 } = {}) {
    const zero = { seconds: '-62135596800', nanos: 0 };
    const query = ids.map((id) => ({ traceId: Buffer.from(id, 'hex'), startTime: zero, endTime: zero }));
    return new Promise((resolve, reject) => {
      const chunks = [];
      const call = this.client.GetTraces({ query }, new grpc.Metadata(), { deadline: new Date(Date.now() + deadlineMs) });
      call.on('data', (b) => chunks.push(b));
      call.on('error', reject);
      call.on('status', (st) => { if (st.code === grpc.status.OK) resolve(chunks); });
    });
  }

  close() { this.client.close(); }
}

/**
 * Reads back, by trace id, every trace an acknowledged request touched (plus the traces of failed requests) and
 * checks: every acknowledged span present exactly once and equal to what was sent (ids, parent, name, kind, times,
 * attributes with their types, events, links, status, flags, resource, scope); never fewer spans per trace than
 * acknowledged; any extra span belongs to a failed (unacknowledged) request and is equal to what was sent; every
 * TracesData chunk holds one trace.
 * @param {RawReader} reader
 * @param {Ledger} ledger
 * @param {{only?: Iterable<object>, includeFailed?: boolean}} opts only: check just these acknowledged requests
 * @returns a report; `ok` is true when nothing is wrong
 */
export async function verifyLedger(reader, ledger, {
  only, includeFailed = true, idsPerCall = 64, concurrency = 2, deadlineMs = 60_000, maxExamples = 10,
} = {}) {
  const expected = new Map(); // "trace/span" → digest, acknowledged spans
  const maybe = new Map(); // "trace/span" → digest, spans of failed requests
  const ackedPerTrace = new Map();
  const fetchIds = new Set();
  const ackedList = only ? [...only] : [...ledger.acked.values()];
  for (const r of ackedList) {
    for (const [k, d] of requestDigests(ledger, r)) {
      expected.set(k, d);
      const t = k.slice(0, 32);
      ackedPerTrace.set(t, (ackedPerTrace.get(t) ?? 0) + 1);
      fetchIds.add(t);
    }
  }
  const failedPresence = new Map(); // request key → spans of it read back
  if (includeFailed) {
    for (const [key, r] of ledger.failed) {
      failedPresence.set(key, 0);
      for (const [k, d] of requestDigests(ledger, r)) {
        if (expected.has(k)) continue;
        maybe.set(k, d);
        fetchIds.add(k.slice(0, 32));
      }
    }
  }

  const report = {
    ok: false, ackedRequests: ackedList.length, ackedSpans: expected.size, failedRequests: failedPresence.size,
    tracesFetched: fetchIds.size, spansRead: 0, chunks: 0, missing: 0, mismatched: 0, encodingOnly: 0, duplicates: 0,
    unknown: 0, unackedSpansPresent: 0, tracesShort: 0, chunkProblems: 0, examples: [],
    failedRequestsPresent: { full: 0, partial: 0, absent: 0 },
  };
  const seen = new Set();
  const perTrace = new Map();
  const example = (msg) => { if (report.examples.length < maxExamples) report.examples.push(msg); };

  const compareSlow = (chunk, traceHex, spanHex, acked) => {
    const exp = regenerateSpan(ledger, traceHex, spanHex);
    const act = spansFromProto(decodeMessage(TRACES_DATA, chunk)).find((x) => x.traceId === traceHex && x.spanId === spanHex);
    const d = exp && act ? diffTraces([exp], [act], { compareFlags: true, limit: 6 }) : ['cannot decode or regenerate'];
    if (d.length === 0) { report.encodingOnly++; return; }
    report.mismatched++;
    example(`span ${traceHex}/${spanHex} differs from what was sent${acked ? '' : ' (unacknowledged request)'}: ${d.join('; ')}`);
  };

  const ids = [...fetchIds];
  const batches = [];
  for (let i = 0; i < ids.length; i += idsPerCall) batches.push(ids.slice(i, i + idsPerCall));
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      const chunks = await reader.getTraces(batches[next++], { deadlineMs });
      for (const chunk of chunks) {
        report.chunks++;
        const tracesInChunk = new Set();
        forEachSpanDigest(chunk, (t, sp, dg) => {
          report.spansRead++;
          tracesInChunk.add(t);
          const k = `${t}/${sp}`;
          perTrace.set(t, (perTrace.get(t) ?? 0) + 1);
          if (seen.has(k)) { report.duplicates++; example(`span ${k} returned more than once`); return; }
          seen.add(k);
          const acked = expected.has(k);
          const want = acked ? expected.get(k) : maybe.get(k);
          if (want === undefined) { report.unknown++; example(`span ${k} was never sent (or not asked for)`); return; }
          if (!acked) {
            report.unackedSpansPresent++;
            const o = originOfSpanId(sp);
            const rk = requestKey(o.phase, o.client, o.seq);
            failedPresence.set(rk, (failedPresence.get(rk) ?? 0) + 1);
          }
          if (dg !== want) compareSlow(chunk, t, sp, acked);
        });
        if (tracesInChunk.size !== 1) { report.chunkProblems++; example(`a TracesData chunk holds ${tracesInChunk.size} traces`); }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, batches.length) }, worker));

  for (const k of expected.keys()) {
    if (seen.has(k)) continue;
    report.missing++;
    const o = originOfSpanId(k.slice(33));
    example(`acknowledged span ${k} missing (request phase ${o.phase}, client ${o.client}, seq ${o.seq})`);
  }
  for (const [t, n] of ackedPerTrace) {
    const got = perTrace.get(t) ?? 0;
    if (got < n) { report.tracesShort++; example(`trace ${t}: ${got} span(s) read, ${n} acknowledged`); }
  }
  for (const [key, n] of failedPresence) {
    const total = ledger.failed.get(key).spans;
    if (n === 0) report.failedRequestsPresent.absent++;
    else if (n === total) report.failedRequestsPresent.full++;
    else report.failedRequestsPresent.partial++;
  }
  report.ok = report.missing === 0 && report.mismatched === 0 && report.duplicates === 0 && report.unknown === 0
    && report.tracesShort === 0 && report.chunkProblems === 0;
  return report;
}

/** One line (plus examples) for t.diagnostic and assertion messages. */
export function describeVerification(v) {
  return `acknowledged ${v.ackedSpans} spans in ${v.ackedRequests} requests; read ${v.spansRead} spans of `
    + `${v.tracesFetched} traces in ${v.chunks} chunks; missing ${v.missing}, mismatched ${v.mismatched}, `
    + `duplicates ${v.duplicates}, never sent ${v.unknown}, short traces ${v.tracesShort}, chunk problems ${v.chunkProblems}, `
    + `equal but encoded differently ${v.encodingOnly}; spans of unacknowledged requests present ${v.unackedSpansPresent} `
    + `(failed requests: ${v.failedRequestsPresent.full} fully present, ${v.failedRequestsPresent.partial} partially, `
    + `${v.failedRequestsPresent.absent} absent)${v.examples.length ? `\n  ${v.examples.join('\n  ')}` : ''}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Writers

/** grpc-js clients on a channel (and TCP connection) of their own. */
export function ownClients(address) {
  return new TbClients(address, { 'grpc.use_local_subchannel_pool': 1 });
}

/**
 * A bare TraceService/Export client that sends already-encoded request bytes (encode once, send many times, as an
 * exporter retrying a batch does) and decodes the response with proto-loader.
 */
export class RawExporter {
  constructor(address) {
    const m = loadProtos().packageDefinition['opentelemetry.proto.collector.trace.v1.TraceService'].Export;
    const Ctor = grpc.makeGenericClientConstructor({
      Export: { ...m, path: EXPORT_PATH, requestSerialize: (b) => b },
    }, 'RawTraceService');
    this.client = new Ctor(address, grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1, 'grpc.max_send_message_length': 64 * 1024 * 1024,
    });
  }

  export(bytes, { deadlineMs = 30_000 } = {}) {
    return new Promise((resolve, reject) => {
      this.client.Export(bytes, new grpc.Metadata(), { deadline: new Date(Date.now() + deadlineMs) }, (err, res) => (err ? reject(err) : resolve(res)));
    });
  }

  close() { this.client.close(); }
}

export const encodeExport = (request) => encodeMessage(EXPORT_REQUEST, request);

/**
 * Runs `n` writers, each with its own channel (RawExporter), sending Export requests of `ledger`'s profile in a loop
 * until `stop.requested` is set. Every outcome goes into the ledger (OK with nothing rejected → acknowledged;
 * anything else → failed). After an error `onError(err)` decides: 'stop' (default: the server is gone or going),
 * 'retry' (send the same bytes again, as an exporter does after RESOURCE_EXHAUSTED) or 'next'.
 * @returns {{done: Promise<void>, inFlight: () => number, sent: () => number, errors: object[], close: () => void}}
 */
export function startWriters({ address, ledger, phase, n = 8, deadlineMs = 20_000, stop, onError = () => 'stop', firstClient = 0 }) {
  const errors = [];
  let inFlight = 0;
  let sent = 0;
  const loops = [];
  const exporters = [];
  for (let client = firstClient; client < firstClient + n; client++) {
    const exporter = new RawExporter(address);
    exporters.push(exporter);
    loops.push((async () => {
      let built = null;
      for (let seq = 1, attempt = 0; !stop.requested && attempt < 1e6; attempt++) {
        if (!built) built = ledger.buildEncoded(phase, client, seq);
        inFlight++;
        sent++;
        let err = null;
        try {
          const res = await exporter.export(built.bytes, { deadlineMs });
          const rejected = Number(res?.partialSuccess?.rejectedSpans ?? 0);
          if (rejected > 0) err = { code: 'partial', details: `${rejected} spans rejected: ${res.partialSuccess.errorMessage}` };
          else ledger.ack(phase, client, seq, built);
        } catch (e) {
          err = e;
        } finally {
          inFlight--;
        }
        if (!err) { seq++; built = null; continue; }
        ledger.fail(phase, client, seq, built, err);
        errors.push({ at: Date.now(), client, seq, code: err.code, details: err.details ?? err.message });
        const next = onError(err);
        if (next === 'stop') break;
        if (next === 'next') { seq++; built = null; }
      }
    })());
  }
  return {
    done: Promise.all(loops).then(() => undefined),
    inFlight: () => inFlight,
    sent: () => sent,
    errors,
    close: () => { for (const e of exporters) e.close(); },
  };
}

/**
 * Like startWriters, over OTLP/HTTP: `n` fetch loops POSTing application/x-protobuf ExportTraceServiceRequests to
 * `${base}/v1/traces`. A 200 whose ExportTraceServiceResponse rejects nothing acknowledges the request. Every other
 * answer is recorded in `errors` as {status, retryAfter, retryDelayMs, details} (details: google.rpc.Status.message of the body,
 * retryDelayMs: the delay of a RetryInfo among its details, or null)
 * and `onError(e)` decides as in startWriters.
 */
export function startHttpWriters({ base, ledger, phase, n = 4, timeoutMs = 20_000, stop, onError = () => 'stop', firstClient = 0 }) {
  const errors = [];
  let sent = 0;
  const loops = [];
  for (let client = firstClient; client < firstClient + n; client++) {
    loops.push((async () => {
      let built = null;
      for (let seq = 1, attempt = 0; !stop.requested && attempt < 1e6; attempt++) {
        if (!built) built = ledger.buildEncoded(phase, client, seq);
        sent++;
        let err = null;
        try {
          const res = await fetch(`${base}/v1/traces`, {
            method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: built.bytes, signal: AbortSignal.timeout(timeoutMs),
          });
          const body = Buffer.from(await res.arrayBuffer());
          if (res.status === 200) {
            const r = decodeMessage('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse', body);
            const rejected = Number(r?.partialSuccess?.rejectedSpans ?? 0);
            if (rejected > 0) err = { status: 200, code: 'partial', details: r.partialSuccess.errorMessage };
          } else {
            const contentType = res.headers.get('content-type');
            // RetryInfo in the body's google.rpc.Status details (a protobuf body only), as a delay in ms
            const retryDelayMs = contentType === 'application/x-protobuf' ? retryDelayMsOf(decodeRpcStatus(body)) : null;
            err = { status: res.status, code: `http ${res.status}`, retryAfter: res.headers.get('retry-after'), contentType, retryDelayMs, details: rpcStatusMessage(body) };
          }
        } catch (e) {
          err = { code: e.cause?.code ?? e.name, details: e.message };
        }
        if (!err) { ledger.ack(phase, client, seq, built); seq++; built = null; continue; }
        ledger.fail(phase, client, seq, built, err);
        errors.push({ at: Date.now(), client, seq, ...err });
        const next = onError(err);
        if (next === 'stop') break;
        if (next === 'next') { seq++; built = null; }
      }
    })());
  }
  return { done: Promise.all(loops).then(() => undefined), sent: () => sent, errors };
}

/** google.rpc.Status.message (field 2) of a protobuf body; the text itself when the body is not protobuf. */
export function rpcStatusMessage(body) {
  let message = null;
  try {
    forEachLenField(body, 0, body.length, (f, s, e) => { if (f === 2) message = body.toString('utf8', s, e); });
  } catch { /* not protobuf */ }
  return message ?? body.toString('utf8');
}

// ---------------------------------------------------------------------------------------------------------------
// Process memory

/** VmRSS / VmHWM / VmPeak of a process in bytes, from /proc/<pid>/status; null once it is gone. */
export function procMemory(pid) {
  let text;
  try { text = fs.readFileSync(`/proc/${pid}/status`, 'utf8'); } catch { return null; }
  const field = (name) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : null;
  };
  return { rss: field('VmRSS'), hwm: field('VmHWM'), peak: field('VmPeak'), threads: Number(/^Threads:\s+(\d+)/m.exec(text)?.[1] ?? 0) };
}

export const MiB = 1024 * 1024;
export const fmtMiB = (b) => `${(b / MiB).toFixed(1)} MiB`;

/** Samples VmRSS of `pid` every `intervalMs` until stop(); keeps the maximum and a coarse time series. */
export class RssSampler {
  constructor(pid, { intervalMs = 25 } = {}) {
    this.pid = pid;
    this.t0 = Date.now();
    this.max = 0;
    this.samples = 0;
    this.series = []; // [seconds since start, MiB] every ~500 ms
    this.gone = false;
    let lastSeries = -Infinity;
    this.timer = setInterval(() => {
      const m = procMemory(pid);
      if (!m) { this.gone = true; return; }
      this.samples++;
      this.max = Math.max(this.max, m.rss);
      const now = Date.now();
      if (now - lastSeries >= 500) { lastSeries = now; this.series.push([(now - this.t0) / 1000, m.rss / MiB]); }
    }, intervalMs);
  }

  stop() { clearInterval(this.timer); }

  describe() {
    return this.series.map(([s, mib]) => `${s.toFixed(1)}s:${mib.toFixed(0)}`).join(' ');
  }
}
