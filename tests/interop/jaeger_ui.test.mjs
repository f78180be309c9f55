// Jaeger UI v1.70 against tracebucket's /api, request by request (docs/jaeger-semantics.md §6), through Node's fetch.
//
// tests/conformance/jaeger-ui/v1.70.0-requests.txt holds every request the UI made in a recorded session. This suite
// loads a generated web-shop workload (the services, operations and attributes those requests name, a 2,430-span
// trace, calls inside one service, a consumer linked to its producer; half in a block, half in the head), then
// replays every recorded request with its times moved to now and its trace IDs mapped onto traces of the data, as
// the UI would send it from another origin. Each answer must be what the UI can use:
//   * 2xx with Jaeger's envelope and the fields the UI reads (trace JSON: traceID, spans with references, times,
//     tags, logs, processID; processes with serviceName and tags), and the right content: search results are the
//     matching traces computed here from the generated spans (newest first, `limit`), dependencies the calls
//     between different services computed here, operations and services those of the data;
//   * 404 with the error envelope for the ID the session looked up in vain;
//   * 501 with Jaeger's "metrics querying is currently disabled" for the Monitor tab's metrics, which the UI turns
//     into its own explanation;
//   * POST /api/transform (the OTLP upload) maps an OTLP/JSON file to the same UI traces the server stores for it.
// Every recorded line must be replayed: the suite fails on a line it does not know how to check.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TbServer } from './lib/server.mjs';
import { BIG_TRACE_SPANS, KIND, NODE_OF, generateWebShop, webShopOtlp } from './lib/webshop.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REQUESTS_FILE = path.resolve(HERE, '..', 'conformance', 'jaeger-ui', 'v1.70.0-requests.txt');
const UI_ORIGIN = 'http://localhost:16686';
const MS = 1_000_000n; // ns per ms
const NOW_MS = Date.now();
const NOW_NS = BigInt(NOW_MS) * MS;

// ---------------------------------------------------------------------------------------------------------------
// Expected answers, computed from the generated spans (docs/jaeger-semantics.md §5.2, §7.1)

const KIND_NAME = Object.fromEntries(Object.entries(KIND).map(([k, v]) => [v, k]));

/** Whether one span satisfies a tag filter as a Jaeger-model search reads it (derived tags search their fields). */
function spanHasTag(s, key, want) {
  if (key === 'error') return (s.status === 2) === (want === 'true');
  if (key === 'otel.status_code') return { OK: 1, ERROR: 2 }[want] === s.status;
  if (key === 'span.kind') return KIND_NAME[s.kind] === want;
  if (key === 'k8s.node.name') return NODE_OF[s.service] === want;
  if (key === 'service.name') return s.service === want;
  return key in s.attrs && String(s.attrs[key]) === want;
}

function goDurationNs(text) {
  const m = /^(\d+)(ms|s|us)$/.exec(text);
  assert.ok(m, `a duration this suite reads: ${text}`);
  return BigInt(m[1]) * { us: 1_000n, ms: MS, s: 1000n * MS }[m[2]];
}

/** The trace IDs /api/traces must answer for a search: matching traces, newest span start first, at most limit. */
function expectedSearch(traces, q) {
  const tags = q.get('tags') ? JSON.parse(q.get('tags')) : {};
  const start = BigInt(q.get('start')) * 1000n;
  const end = BigInt(q.get('end')) * 1000n;
  const min = q.get('minDuration') ? goDurationNs(q.get('minDuration')) : null;
  const max = q.get('maxDuration') ? goDurationNs(q.get('maxDuration')) : null;
  const matches = (s) => s.service === q.get('service') && (!q.get('operation') || s.name === q.get('operation'))
    && s.start >= start && s.start <= end && (min === null || s.end - s.start >= min) && (max === null || s.end - s.start <= max)
    && Object.entries(tags).every(([k, v]) => spanHasTag(s, k, v));
  const newest = (t) => t.spans.reduce((a, s) => (s.start > a ? s.start : a), 0n);
  return traces.filter((t) => t.spans.some(matches)).sort((a, b) => (newest(b) > newest(a) ? 1 : -1))
    .slice(0, Number(q.get('limit') || 100)).map((t) => t.traceId);
}

/**
 * Jaeger's dependency links over the traces that lie within [startNs, endNs]: calls between different services; a
 * parentless span hangs off its first link into its own trace.
 */
function expectedDependencies(traces, startNs, endNs) {
  const calls = new Map();
  for (const t of traces) {
    if (t.spans.some((s) => s.start < startNs || s.end > endNs)) continue;
    const byId = new Map(t.spans.map((s) => [s.spanId, s]));
    for (const s of t.spans) {
      const parentId = s.parent || s.links.find((l) => l.traceId === s.traceId)?.spanId;
      const parent = parentId && byId.get(parentId);
      if (!parent || parent.service === s.service) continue;
      const key = `${parent.service}→${s.service}`;
      calls.set(key, (calls.get(key) ?? 0) + 1);
    }
  }
  return Object.fromEntries([...calls].sort());
}

// ---------------------------------------------------------------------------------------------------------------
// What the UI reads of an answer

/** Problems of one trace of UI JSON with respect to what Jaeger UI reads (docs/jaeger-semantics.md §6.3). */
function uiTraceProblems(trace) {
  const problems = [];
  const where = `trace ${trace?.traceID}`;
  if (!/^[0-9a-f]{16}$|^[0-9a-f]{32}$/.test(trace?.traceID ?? '')) problems.push(`${where}: traceID`);
  if (!Array.isArray(trace.spans) || trace.spans.length === 0) return [...problems, `${where}: no spans`];
  if (!trace.processes || typeof trace.processes !== 'object') return [...problems, `${where}: no processes`];
  for (const [id, p] of Object.entries(trace.processes)) {
    if (typeof p.serviceName !== 'string' || !Array.isArray(p.tags)) problems.push(`${where}: process ${id}`);
  }
  if (!(trace.warnings === null || Array.isArray(trace.warnings))) problems.push(`${where}: warnings`);
  const tagOk = (t) => typeof t.key === 'string' && ['string', 'bool', 'int64', 'float64', 'binary'].includes(t.type) && 'value' in t;
  for (const s of trace.spans) {
    const at = `${where} span ${s.spanID}`;
    if (s.traceID !== trace.traceID) problems.push(`${at}: traceID ${s.traceID}`);
    if (!/^[0-9a-f]{16}$/.test(s.spanID ?? '')) problems.push(`${at}: spanID`);
    if (typeof s.operationName !== 'string') problems.push(`${at}: operationName`);
    if (!Number.isSafeInteger(s.startTime) || !Number.isSafeInteger(s.duration) || s.duration < 0) problems.push(`${at}: times`);
    if (!Array.isArray(s.references) || !s.references.every((r) => ['CHILD_OF', 'FOLLOWS_FROM'].includes(r.refType)
      && /^[0-9a-f]{16}$/.test(r.spanID) && typeof r.traceID === 'string')) problems.push(`${at}: references`);
    if (!Array.isArray(s.tags) || !s.tags.every(tagOk)) problems.push(`${at}: tags`);
    if (!Array.isArray(s.logs) || !s.logs.every((l) => Number.isSafeInteger(l.timestamp) && Array.isArray(l.fields) && l.fields.every(tagOk))) {
      problems.push(`${at}: logs`);
    }
    if (!trace.processes[s.processID]) problems.push(`${at}: processID ${s.processID} not in processes`);
    if (!(s.warnings === null || Array.isArray(s.warnings))) problems.push(`${at}: warnings`);
  }
  return problems;
}

function assertUiTraces(traces, context) {
  assert.ok(Array.isArray(traces), `${context}: data is not an array`);
  const problems = traces.flatMap(uiTraceProblems);
  assert.deepEqual(problems.slice(0, 20), [], `${context}: the UI could not render these`);
}

/** A UI trace in a comparable form: spans sorted by ID, each with its process resolved and tags sorted. */
function comparable(trace) {
  return trace.spans.map((s) => ({ ...s, processID: undefined, process: trace.processes[s.processID],
    tags: [...s.tags].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)) }))
    .sort((a, b) => (a.spanID < b.spanID ? -1 : 1));
}

/** The UI's trace ID of a 32-hex-digit ID. */
const uiTraceId = (id) => (id.startsWith('0000000000000000') ? id.slice(16) : id);

// ---------------------------------------------------------------------------------------------------------------
// The recorded requests

function readRequests() {
  return fs.readFileSync(REQUESTS_FILE, 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#')).map((line) => {
    const m = /^(GET|POST) (\S+)\s+->\s+(\d{3})$/.exec(line.trim());
    assert.ok(m, `unreadable line in ${REQUESTS_FILE}: ${line}`);
    const url = new URL(m[2], 'http://recorded');
    return { line: line.trim(), method: m[1], path: url.pathname, query: url.searchParams, recordedStatus: Number(m[3]) };
  });
}

describe('Jaeger UI v1.70: every recorded request, replayed on a web-shop workload', () => {
  const traces = generateWebShop(NOW_NS);
  const byId = new Map(traces.map((t) => [t.traceId, t]));
  const requests = readRequests();
  // The recorded session's trace IDs, mapped onto this data: the first one viewed is the big trace, others are
  // checkouts; an ID the session found no trace for stays unknown.
  const recordedIds = [...new Set(requests.filter((r) => r.path.startsWith('/api/traces/')).map((r) => r.path.split('/')[3]))];
  const unknown = new Set(requests.filter((r) => r.path.startsWith('/api/traces/') && r.recordedStatus === 404).map((r) => r.path.split('/')[3]));
  const checkouts = traces.filter((t) => t.kind === 'checkout');
  const idMap = new Map();
  for (const id of recordedIds) {
    idMap.set(id, unknown.has(id) ? id : idMap.size === 0 ? traces.find((t) => t.kind === 'big').traceId : checkouts[idMap.size].traceId);
  }
  // The session's clock: times move so that the newest recorded `end` / `endTs` is now.
  const recordedNowUs = Math.max(...requests.flatMap((r) => [Number(r.query.get('end') ?? 0), Number(r.query.get('endTs') ?? 0) * 1000]));
  const shiftUs = BigInt(NOW_MS) * 1000n - BigInt(recordedNowUs);

  const ctx = {};
  before(async () => {
    ctx.server = await TbServer.start({ extraArgs: ['--cors-allowed-origins', UI_ORIGIN, '--no-background-flush'] });
    // Half the traces in a block, half in the head, as a server that has been running a while holds them.
    const half = Math.floor(traces.length / 2);
    for (const [from, to] of [[0, half], [half, traces.length]]) {
      for (let i = from; i < to; i += 20) {
        await ctx.server.postJson(JSON.stringify(webShopOtlp(traces.slice(i, Math.min(i + 20, to)).flatMap((t) => t.spans))));
      }
      if (from === 0) await ctx.server.flush();
    }
  }, { timeout: 120_000 });
  after(async () => {
    if (ctx.server) {
      try { await ctx.server.stop(); } finally { await ctx.server.dispose(); }
    }
  });

  /** Sends one request as the UI's browser would (cross-origin, gzip accepted); checks CORS; returns status and body. */
  async function send(method, pathAndQuery, body) {
    const res = await fetch(`${ctx.server.httpBase}${pathAndQuery}`, {
      method, body,
      headers: { origin: UI_ORIGIN, 'accept-encoding': 'gzip, deflate, br', ...(body ? { 'content-type': 'text/plain;charset=UTF-8' } : {}) },
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    assert.equal(res.headers.get('access-control-allow-origin'), UI_ORIGIN, `${method} ${pathAndQuery}: CORS header missing`);
    let json;
    try { json = JSON.parse(text); } catch { assert.fail(`${method} ${pathAndQuery} → ${res.status}, not JSON: ${text.slice(0, 300)}`); }
    return { status: res.status, json, text, contentType: res.headers.get('content-type') };
  }

  /** The recorded request with this data's times and trace IDs. */
  function replayed(r) {
    const q = new URLSearchParams(r.query);
    for (const name of ['start', 'end']) if (q.get(name)) q.set(name, String(BigInt(q.get(name)) + shiftUs));
    if (q.get('endTs')) q.set('endTs', String((BigInt(q.get('endTs')) * 1000n + shiftUs) / 1000n));
    let p = r.path;
    if (p.startsWith('/api/traces/')) p = `/api/traces/${idMap.get(p.split('/')[3])}`;
    const qs = q.toString();
    return { path: p, query: q, url: qs ? `${p}?${qs}` : p };
  }

  const envelopeOk = (json) => ['data', 'total', 'limit', 'offset', 'errors'].every((k) => k in json);

  for (const [i, r] of requests.entries()) {
    test(`${String(i + 1).padStart(2, '0')} ${r.line}`, async () => {
      const { path: p, query: q, url } = replayed(r);
      const context = `${r.method} ${url}`;

      if (p.startsWith('/api/metrics/')) {
        const got = await send('GET', url);
        assert.equal(got.status, 501, `${context}: the Monitor tab shows its own page only for a 501`);
        assert.deepEqual(got.json, { data: null, total: 0, limit: 0, offset: 0,
          errors: [{ code: 501, msg: 'metrics querying is currently disabled' }] });
        return;
      }

      if (r.method === 'POST' && p === '/api/transform') {
        // An uploaded OTLP file: three traces, posted as the UI posts it (a text body).
        const picked = [checkouts[3], traces.find((t) => t.kind === 'products'), traces.find((t) => t.kind === 'big')];
        const got = await send('POST', url, JSON.stringify(webShopOtlp(picked.flatMap((t) => t.spans))));
        assert.equal(got.status, 200, `${context}: ${got.text.slice(0, 300)}`);
        assert.ok(envelopeOk(got.json), `${context}: envelope`);
        assertUiTraces(got.json.data, context);
        assert.deepEqual(got.json.data.map((t) => t.traceID), picked.map((t) => uiTraceId(t.traceId)));
        assert.deepEqual(got.json.data.map((t) => t.spans.length), picked.map((t) => t.spans.length));
        // The upload renders as the stored trace does (the same mapping on both doors).
        for (const [k, t] of picked.entries()) {
          const stored = await send('GET', `/api/traces/${t.traceId}`);
          assert.deepEqual(comparable(got.json.data[k]), comparable(stored.json.data[0]), `${context}: trace ${t.traceId}`);
        }
        const bad = await send('POST', url, '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}');
        assert.equal(bad.status, 400);
        assert.match(bad.json.errors[0].msg, /^cannot unmarshal OTLP: .*traceId/);
        return;
      }

      const got = await send(r.method, url);

      if (p === '/api/services') {
        assert.equal(got.status, 200);
        assert.deepEqual([...got.json.data].sort(), [...new Set(traces.flatMap((t) => t.spans.map((s) => s.service)))].sort());
        assert.equal(got.json.total, got.json.data.length);
        return;
      }

      const ops = /^\/api\/services\/([^/]+)\/operations$/.exec(p);
      if (ops) {
        const service = decodeURIComponent(ops[1]);
        assert.equal(got.status, 200);
        assert.deepEqual([...got.json.data].sort(),
          [...new Set(traces.flatMap((t) => t.spans.filter((s) => s.service === service).map((s) => s.name)))].sort());
        return;
      }

      if (p === '/api/dependencies') {
        assert.equal(got.status, 200);
        assert.ok(envelopeOk(got.json));
        const links = {};
        for (const d of got.json.data) {
          assert.ok(typeof d.parent === 'string' && typeof d.child === 'string' && Number.isSafeInteger(d.callCount), JSON.stringify(d));
          links[`${d.parent}→${d.child}`] = (links[`${d.parent}→${d.child}`] ?? 0) + d.callCount;
        }
        const endNs = BigInt(q.get('endTs')) * MS;
        const want = expectedDependencies(traces, endNs - BigInt(q.get('lookback')) * MS, endNs);
        assert.ok(Object.keys(want).some((k) => k.startsWith('checkout→fraud-detection')), 'the data has a link-made edge');
        assert.deepEqual(Object.fromEntries(Object.entries(links).sort()), want);
        return;
      }

      if (p === '/api/traces') {
        assert.equal(got.status, 200, `${context}: ${got.text.slice(0, 300)}`);
        assert.ok(envelopeOk(got.json));
        assertUiTraces(got.json.data, context);
        const want = expectedSearch(traces, q);
        assert.ok(want.length > 0, `${context}: the workload should hold a match (the replay would prove nothing)`);
        assert.deepEqual(got.json.data.map((t) => t.traceID), want.map(uiTraceId));
        for (const t of got.json.data) assert.equal(t.spans.length, byId.get(t.traceID.padStart(32, '0')).spans.length);
        return;
      }

      if (p.startsWith('/api/traces/')) {
        const id = p.split('/')[3];
        if (!byId.has(id)) {
          assert.equal(got.status, 404, context);
          assert.equal(got.json.errors[0].msg, 'trace not found'); // what the UI shows
          return;
        }
        assert.equal(got.status, 200, context);
        assert.ok(envelopeOk(got.json));
        assert.equal(got.json.data.length, 1);
        assertUiTraces(got.json.data, context);
        assert.equal(got.json.data[0].traceID, uiTraceId(id));
        assert.equal(got.json.data[0].spans.length, byId.get(id).spans.length);
        if (q.get('prettyPrint') === 'true') assert.match(got.text, /^\{\n {4}"data": \[/, 'prettyPrint indents by 4');
        return;
      }

      assert.fail(`${context}: a recorded request this suite does not know how to check`);
    });
  }

  test('the mapped data covers the session: the big trace has 2,430 spans and every trace view is a known trace', () => {
    assert.equal(traces.find((t) => t.kind === 'big').spans.length, BIG_TRACE_SPANS);
    assert.ok(recordedIds.length >= 3 && [...idMap.values()].filter((id) => byId.has(id)).length === recordedIds.length - unknown.size);
  });
});
