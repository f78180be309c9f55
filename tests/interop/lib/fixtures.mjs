// Jaeger's storage-integration fixtures (tests/conformance/jaeger): loading, date shifting, conversion of OTLP/JSON
// into proto-loader objects for gRPC Export, and of queries.json cases into TraceQueryParameters.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { INTEROP_DIR } from './proto.mjs';

export const FIXTURE_DIR = path.resolve(INTEROP_DIR, '..', 'conformance', 'jaeger');
const DAY_NS = 86_400_000_000_000n;

/** Go's zero time.Time as gogo sends it: 0001-01-01T00:00:00Z. */
export const ZERO_TIME_SECONDS = '-62135596800';
export const ZERO_TIMESTAMP = Object.freeze({ seconds: ZERO_TIME_SECONDS, nanos: 0 });

// ---------------------------------------------------------------------------------------------------------------
// Dates

function ymd(d) {
  return d.toISOString().slice(0, 10);
}

/**
 * The date substitution of one run, fixed once so a run that crosses midnight stays consistent.
 * 2017-01-26 → yesterday (UTC), 2017-01-25 → two days ago; the time of day is kept.
 */
export function makeDateShift(now = new Date()) {
  const todayMidnightMs = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const yesterday = new Date(todayMidnightMs - 86_400_000);
  const twoDaysAgo = new Date(todayMidnightMs - 2 * 86_400_000);
  return {
    yesterday: ymd(yesterday),
    twoDaysAgo: ymd(twoDaysAgo),
    yesterdayMidnightNs: BigInt(yesterday.getTime()) * 1_000_000n,
    twoDaysAgoMidnightNs: BigInt(twoDaysAgo.getTime()) * 1_000_000n,
  };
}

/** Shifts one nanosecond timestamp (decimal string or BigInt) and returns a decimal string. */
export function shiftNanos(ns, shift) {
  const v = BigInt(ns);
  if (v === 0n) return '0';
  const day = v / DAY_NS;
  const tod = v % DAY_NS;
  const date = new Date(Number(day) * 86_400_000).toISOString().slice(0, 10);
  const base = date === '2017-01-25' ? shift.twoDaysAgoMidnightNs : shift.yesterdayMidnightNs;
  return (base + tod).toString();
}

const TIME_FIELD = /("(?:startTimeUnixNano|endTimeUnixNano|timeUnixNano)"\s*:\s*)("?)(\d+)("?)/g;

/** Date-shifts an OTLP/JSON fixture text in place: only the time values change, every other byte stays. */
export function shiftFixtureText(text, shift) {
  return text.replace(TIME_FIELD, (_m, head, q1, digits, q2) => `${head}${q1}${shiftNanos(digits, shift)}${q2}`);
}

/** Date-shifts queries.json text the way Jaeger does: plain string replacement of the two dates. */
export function shiftQueryText(text, shift) {
  return text.replaceAll('2017-01-26', shift.yesterday).replaceAll('2017-01-25', shift.twoDaysAgo);
}

// ---------------------------------------------------------------------------------------------------------------
// Loading

export function fixturePath(name) {
  return path.join(FIXTURE_DIR, 'traces', `${name}.json`);
}

/** Raw fixture text (unshifted). */
export function fixtureText(name) {
  return fs.readFileSync(fixturePath(name), 'utf8');
}

/** Date-shifted fixture text, ready to POST as OTLP/JSON. */
export function shiftedFixtureText(name, shift) {
  return shiftFixtureText(fixtureText(name), shift);
}

/** The 25 search cases of queries.json, date-shifted. */
export function loadQueries(shift, file = 'queries.json') {
  return JSON.parse(shiftQueryText(fs.readFileSync(path.join(FIXTURE_DIR, file), 'utf8'), shift));
}

/** Every fixture name the queries expect, in first-mention order. */
export function fixturesOfQueries(queries) {
  return [...new Set(queries.flatMap((q) => q.ExpectedFixtures))];
}

// ---------------------------------------------------------------------------------------------------------------
// OTLP/JSON → proto-loader objects

const HEX_ID_FIELDS = new Set(['traceId', 'spanId', 'parentSpanId']);

/**
 * Converts an OTLP/JSON document (TracesData / ExportTraceServiceRequest, object or text) into the plain object
 * proto-loader serialises: hex ids → Buffer, base64 bytesValue → Buffer; 64-bit numbers stay decimal strings,
 * enums stay numbers (or names), field names are already lowerCamelCase.
 */
export function otlpJsonToProto(doc) {
  if (typeof doc === 'string') doc = JSON.parse(doc);
  const walk = (v, key) => {
    if (Array.isArray(v)) return v.map((x) => walk(x, key));
    if (v && typeof v === 'object') {
      const o = {};
      for (const [k, x] of Object.entries(v)) o[k] = walk(x, k);
      return o;
    }
    if (HEX_ID_FIELDS.has(key)) {
      if (typeof v !== 'string' || !/^[0-9a-fA-F]*$/.test(v) || v.length % 2) throw new Error(`bad hex ${key}: ${v}`);
      return Buffer.from(v, 'hex');
    }
    if (key === 'bytesValue') return Buffer.from(String(v), 'base64');
    if (key === 'doubleValue' && typeof v === 'string') return Number(v);
    return v;
  };
  return walk(doc, '');
}

// ---------------------------------------------------------------------------------------------------------------
// queries.json → jaeger.storage.v2.TraceQueryParameters

/** RFC 3339 text → {seconds (decimal string), nanos}, nanosecond-exact (Date would round to milliseconds). */
export function parseRfc3339(text) {
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/.exec(text);
  if (!m) throw new Error(`not RFC 3339: ${text}`);
  const [, y, mo, d, h, mi, s, frac = '', tz] = m;
  const dt = new Date(0);
  dt.setUTCFullYear(Number(y), Number(mo) - 1, Number(d)); // setUTCFullYear: years < 100 are not shifted to 19xx
  dt.setUTCHours(Number(h), Number(mi), Number(s), 0);
  let seconds = BigInt(dt.getTime() / 1000);
  if (tz !== 'Z' && tz !== 'z') {
    const sign = tz[0] === '-' ? -1n : 1n;
    seconds -= sign * (BigInt(tz.slice(1, 3)) * 3600n + BigInt(tz.slice(4, 6)) * 60n);
  }
  return { seconds: seconds.toString(), nanos: Number(frac.padEnd(9, '0') || '0') };
}

export function timestampFromNanos(ns) {
  const v = BigInt(ns);
  let s = v / 1_000_000_000n;
  let n = v % 1_000_000_000n;
  if (n < 0n) { n += 1_000_000_000n; s -= 1n; }
  return { seconds: s.toString(), nanos: Number(n) };
}

export function nanosFromTimestamp(ts) {
  return BigInt(ts.seconds) * 1_000_000_000n + BigInt(ts.nanos ?? 0);
}

export function durationFromNanos(ns) {
  const v = BigInt(ns);
  return { seconds: (v / 1_000_000_000n).toString(), nanos: Number(v % 1_000_000_000n) };
}

/**
 * A queries.json tag value as the v2 gRPC client sends it (typed) or as api_v3 sends it (string).
 * Typed: integral JSON number → int_value, other number → double_value, bool → bool_value, string → string_value.
 */
export function tagValue(v, typed = true) {
  if (!typed) return { stringValue: typeof v === 'string' ? v : String(v) };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
  if (typeof v === 'string') return { stringValue: v };
  throw new Error(`unsupported tag value ${JSON.stringify(v)}`);
}

function timeOrZero(text) {
  if (!text) return { ...ZERO_TIMESTAMP };
  const ts = parseRfc3339(text);
  return BigInt(ts.seconds) <= BigInt(ZERO_TIME_SECONDS) ? { ...ZERO_TIMESTAMP } : ts;
}

/**
 * TraceQueryParameters for one queries.json `Query`, filled the way Jaeger's gogo client fills them: every
 * Timestamp/Duration present; unset times as year 0001, unset durations as a zero Duration.
 */
export function queryToParams(q, { typed = true } = {}) {
  return {
    serviceName: q.ServiceName ?? '',
    operationName: q.OperationName ?? '',
    attributes: Object.entries(q.Tags ?? {}).map(([key, v]) => ({ key, value: tagValue(v, typed) })),
    startTimeMin: timeOrZero(q.StartTimeMin),
    startTimeMax: timeOrZero(q.StartTimeMax),
    durationMin: durationFromNanos(q.DurationMin ?? 0),
    durationMax: durationFromNanos(q.DurationMax ?? 0),
    searchDepth: q.NumTraces ?? 0,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Synthetic traces of Jaeger's suite

/** 8-byte big-endian span id for n. */
export function spanIdFromInt(n) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/**
 * Jaeger's writeLargeTraceWithDuplicateSpanIds: clones the first span of example_trace (with its resource and scope)
 * `count` times; span i gets id i+1 (8-byte big-endian) unless dupFreq > 0 && i > 0 && i % dupFreq == 0, when it
 * keeps the original span id; start/end shifted by (i+1) seconds.
 * @returns {object} an OTLP/JSON TracesData document (one resource, one scope, `count` spans)
 */
export function largeTraceJson(exampleShiftedDoc, count, dupFreq = 0) {
  const doc = typeof exampleShiftedDoc === 'string' ? JSON.parse(exampleShiftedDoc) : exampleShiftedDoc;
  const rs = doc.resourceSpans[0];
  const ss = rs.scopeSpans[0];
  const orig = ss.spans[0];
  const spans = [];
  for (let i = 0; i < count; i++) {
    const s = structuredClone(orig);
    if (!(dupFreq > 0 && i > 0 && i % dupFreq === 0)) s.spanId = spanIdFromInt(i + 1).toString('hex');
    const delta = BigInt(i + 1) * 1_000_000_000n;
    s.startTimeUnixNano = (BigInt(orig.startTimeUnixNano) + delta).toString();
    s.endTimeUnixNano = (BigInt(orig.endTimeUnixNano) + delta).toString();
    spans.push(s);
  }
  return { resourceSpans: [{ ...rs, scopeSpans: [{ ...ss, spans }] }] };
}

/** Splits an OTLP/JSON single-resource single-scope document into documents of at most `n` spans. */
export function chunkDoc(doc, n) {
  const rs = doc.resourceSpans[0];
  const ss = rs.scopeSpans[0];
  const out = [];
  for (let i = 0; i < ss.spans.length; i += n) {
    out.push({ resourceSpans: [{ ...rs, scopeSpans: [{ ...ss, spans: ss.spans.slice(i, i + n) }] }] });
  }
  return out;
}

/**
 * Empties `server` and stores the date-shifted fixtures `names` through OTLP/HTTP JSON; with placement 'blocks' they
 * are then flushed, so the suite reads them from blocks instead of the head.
 */
export async function storeFixtures(server, names, shift, placement) {
  await server.purge();
  for (const name of names) await server.postJson(shiftedFixtureText(name, shift));
  if (placement === 'blocks' && !((await server.flush()) >= 1)) throw new Error('no block after the flush');
}

/** An OTLP/JSON export request of one server span of `service` (random IDs, 10 s ago); otlpJsonToProto for gRPC. */
export function oneSpanRequest(service) {
  const start = BigInt(Date.now() - 10_000) * 1_000_000n;
  const hex = (bytes) => crypto.randomBytes(bytes).toString('hex');
  return {
    resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
      scopeSpans: [{
        spans: [{
          traceId: hex(16), spanId: hex(8), name: 'op', kind: 2,
          startTimeUnixNano: String(start), endTimeUnixNano: String(start + 1_000_000n),
        }],
      }],
    }],
  };
}
