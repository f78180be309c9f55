// Load generation and bookkeeping for the durability and back-pressure suites.
//
// Every request is a pure function of (profile, run tag, base time, phase, client, seq): spans, ids, times and
// attributes come from a PRNG seeded with those numbers, so the ledger only records WHICH requests were acknowledged
// and regenerates their content when it verifies them. Ids encode their origin:
//   trace id (16 bytes) = run tag (4) | kind (1: 1 fresh trace of one request, 2 a client's long trace of a phase)
//                         | phase (1) | client (2) | seq (4, 0 for long traces) | trace index (4, 0 for long traces)
//   span id  (8 bytes)  = phase (1, ≥ 1 so never zero) | client (1) | seq (4) | span index (2)
// so any span read back can be traced to the request that carried it.
// Clients: @grpc/grpc-js with the project's protos (through lib/clients.mjs / lib/proto.mjs) and Node's fetch.
import crypto from 'node:crypto';
import fs from 'node:fs';
import grpc from '@grpc/grpc-js';
import { TbClients, assembleStream } from './clients.mjs';
import { encodeMessage, loadProtos } from './proto.mjs';
import { diffTraces, spansFromProto, stableJson } from './canonical.mjs';

export const EXPORT_REQUEST = 'opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest';
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
    const span = {
      traceId,
      spanId: spanIdFor(phase, client, seq, i),
      parentSpanId: parent ?? Buffer.alloc(0),
      traceState: rng() < 0.05 ? 'vendor=load' : '',
      name: pick(rng, OPERATIONS),
      kind: between(rng, 1, 5),
      startTimeUnixNano: start.toString(),
      endTimeUnixNano: (start + BigInt(between(rng, 1_000, 500_000_000))).toString(),
      attributes: spanAttributes(rng, p.heavy, client, seq, i),
      droppedAttributesCount: 0,
      events: [],
      droppedEventsCount: 0,
      links: [],
      droppedLinksCount: 0,
      status: { code: rng() < 0.1 ? 2 : 0, message: '' },
      flags: 0,
    };
    if (span.status.code === 2) span.status.message = 'upstream returned 503';
    if (rng() < 0.2) {
      span.events.push({
        timeUnixNano: (start + 500n).toString(),
        name: 'exception',
        attributes: [str('exception.type', 'java.net.SocketTimeoutException'), str('exception.message', `read timed out after ${between(rng, 100, 5000)} ms`)],
        droppedAttributesCount: 0,
      });
    }
    if (rng() < 0.1) {
      span.links.push({ traceId: traceIdFor(runTag, KIND_FRESH, phase, client, seq, 9999), spanId: spanIdFor(phase, client, seq, 0xffff), traceState: '', attributes: [str('link.reason', 'batch')], droppedAttributesCount: 0, flags: 0 });
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
        droppedAttributesCount: 0,
      },
      scopeSpans: [{ scope: { name: 'tracebucket-load', version: '1.0.0', attributes: [], droppedAttributesCount: 0 }, spans, schemaUrl: '' }],
      schemaUrl: '',
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
  }

  spec(phase, client, seq) {
    return { profile: this.profile, runTag: this.runTag, baseNs: this.baseNs, phase, client, seq };
  }

  build(phase, client, seq) { return buildRequest(this.spec(phase, client, seq)); }

  ack(phase, client, seq, built) {
    this.acked.set(requestKey(phase, client, seq), { phase, client, seq, spans: built.spans, traceIds: built.traceIds, at: Date.now() });
  }

  fail(phase, client, seq, built, err) {
    this.failed.set(requestKey(phase, client, seq), {
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

function spanDigest(canon) {
  return crypto.createHash('sha1').update(stableJson(canon)).digest('base64');
}

/** The canonical span `spanHex` of trace `traceHex` as `ledger` generated it (for diff messages). */
function regenerateSpan(ledger, traceHex, spanHex) {
  const o = originOfSpanId(spanHex);
  if (!o) return null;
  const built = ledger.build(o.phase, o.client, o.seq);
  return spansFromProto(built.request).find((s) => s.traceId === traceHex && s.spanId === spanHex) ?? null;
}

/**
 * Reads back, by trace id, every trace an acknowledged request touched (plus the fresh traces of failed requests)
 * and checks: every acknowledged span present exactly once and equal to what was sent (all fields under the
 * canonical comparison: ids, parent, name, kind, times, attributes with types, events, links, status, resource,
 * scope); never fewer spans per trace than acknowledged; any extra span belongs to a failed (unacknowledged)
 * request and is equal to what was sent; the stream honours the chunking contract.
 * @returns a report; `ok` is true when nothing is wrong
 */
export async function verifyLedger(clients, ledger, { idsPerCall = 48, concurrency = 3, deadlineMs = 60_000, maxExamples = 10 } = {}) {
  const expected = new Map(); // "trace/span" → digest of acknowledged spans
  const maybe = new Map(); // "trace/span" → digest of spans of failed requests
  const ackedPerTrace = new Map(); // trace → acknowledged span count
  const fetchIds = new Set();
  for (const r of ledger.acked.values()) {
    const built = ledger.build(r.phase, r.client, r.seq);
    for (const s of spansFromProto(built.request)) {
      expected.set(`${s.traceId}/${s.spanId}`, spanDigest(s));
      ackedPerTrace.set(s.traceId, (ackedPerTrace.get(s.traceId) ?? 0) + 1);
      fetchIds.add(s.traceId);
    }
  }
  const failedPresence = new Map(); // request key → spans of it seen
  for (const [key, r] of ledger.failed) {
    const built = ledger.build(r.phase, r.client, r.seq);
    failedPresence.set(key, 0);
    for (const s of spansFromProto(built.request)) {
      maybe.set(`${s.traceId}/${s.spanId}`, spanDigest(s));
      fetchIds.add(s.traceId);
    }
  }

  const report = {
    ok: false, ackedRequests: ledger.acked.size, ackedSpans: expected.size, failedRequests: ledger.failed.size,
    tracesFetched: fetchIds.size, spansRead: 0, missing: 0, mismatched: 0, duplicates: 0, unknown: 0,
    unackedSpansPresent: 0, tracesShort: 0, streamProblems: [], examples: [], failedRequestsPresent: { full: 0, partial: 0, absent: 0 },
  };
  const seen = new Set();
  const perTrace = new Map();
  const example = (msg) => { if (report.examples.length < maxExamples) report.examples.push(msg); };

  const ids = [...fetchIds];
  const chunks = [];
  for (let i = 0; i < ids.length; i += idsPerCall) chunks.push(ids.slice(i, i + idsPerCall));
  let next = 0;
  const worker = async () => {
    while (next < chunks.length) {
      const chunk = chunks[next++];
      const messages = await clients.getTraces(chunk, { deadlineMs });
      const r = assembleStream(messages);
      for (const p of r.problems) if (report.streamProblems.length < maxExamples) report.streamProblems.push(p);
      for (const s of r.spans) {
        report.spansRead++;
        const k = `${s.traceId}/${s.spanId}`;
        perTrace.set(s.traceId, (perTrace.get(s.traceId) ?? 0) + 1);
        if (seen.has(k)) { report.duplicates++; example(`span ${k} returned more than once`); continue; }
        seen.add(k);
        const want = expected.get(k) ?? maybe.get(k);
        if (want === undefined) { report.unknown++; example(`span ${k} ("${s.name}") was never sent`); continue; }
        if (!expected.has(k)) {
          report.unackedSpansPresent++;
          const o = originOfSpanId(s.spanId);
          const rk = requestKey(o.phase, o.client, o.seq);
          failedPresence.set(rk, (failedPresence.get(rk) ?? 0) + 1);
        }
        if (spanDigest(s) !== want) {
          report.mismatched++;
          const exp = regenerateSpan(ledger, s.traceId, s.spanId);
          example(`span ${k} differs from what was sent${expected.has(k) ? '' : ' (unacknowledged)'}: ${exp ? diffTraces([exp], [s], { compareFlags: true, limit: 5 }).join('; ') : 'cannot regenerate'}`);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, chunks.length) }, worker));

  for (const k of expected.keys()) {
    if (!seen.has(k)) {
      report.missing++;
      const o = originOfSpanId(k.split('/')[1]);
      example(`acknowledged span ${k} missing (request phase ${o.phase} client ${o.client} seq ${o.seq})`);
    }
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
    && report.tracesShort === 0 && report.streamProblems.length === 0;
  return report;
}

/** One line for t.diagnostic / assertion messages. */
export function describeVerification(v) {
  return `acknowledged ${v.ackedSpans} spans in ${v.ackedRequests} requests; read ${v.spansRead} spans of ${v.tracesFetched} traces; `
    + `missing ${v.missing}, mismatched ${v.mismatched}, duplicates ${v.duplicates}, never-sent ${v.unknown}, short traces ${v.tracesShort}, `
    + `stream problems ${v.streamProblems.length}; unacknowledged spans present ${v.unackedSpansPresent} `
    + `(failed requests: ${v.failedRequestsPresent.full} fully present, ${v.failedRequestsPresent.partial} partially, ${v.failedRequestsPresent.absent} absent)`
    + `${v.examples.length ? `\n  ${v.examples.join('\n  ')}` : ''}${v.streamProblems.length ? `\n  stream: ${v.streamProblems.join('\n  ')}` : ''}`;
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
 * Runs `n` writers, each with its own channel, sending Export requests of `ledger`'s profile in a loop until
 * `stop.requested` is set or a call fails (the server is gone or going). Records every outcome in the ledger.
 * @returns {{done: Promise<void>, inFlight: () => number, errors: object[], close: () => void}}
 */
export function startWriters({ address, ledger, phase, n = 8, deadlineMs = 20_000, stop }) {
  const errors = [];
  let inFlight = 0;
  const all = [];
  const channels = [];
  for (let client = 0; client < n; client++) {
    const c = ownClients(address);
    channels.push(c);
    all.push((async () => {
      for (let seq = 1; !stop.requested && seq < 1e6; seq++) {
        const built = ledger.build(phase, client, seq);
        inFlight++;
        try {
          const res = await c.export(built.request, { deadlineMs });
          const rejected = Number(res?.partialSuccess?.rejectedSpans ?? 0);
          if (rejected > 0) {
            // Not acknowledged in full: keep it out of the acknowledged set and report it.
            ledger.fail(phase, client, seq, built, { code: 'partial', details: res.partialSuccess.errorMessage });
            errors.push({ at: Date.now(), client, seq, code: 'partial', details: res.partialSuccess.errorMessage });
            break;
          }
          ledger.ack(phase, client, seq, built);
        } catch (err) {
          ledger.fail(phase, client, seq, built, err);
          errors.push({ at: Date.now(), client, seq, code: err.code, details: err.details ?? err.message });
          break;
        } finally {
          inFlight--;
        }
      }
    })());
  }
  return {
    done: Promise.all(all).then(() => undefined),
    inFlight: () => inFlight,
    errors,
    close: () => { for (const c of channels) c.close(); },
  };
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
