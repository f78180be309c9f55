// Jaeger's query JSON API (/api/...) as the Jaeger 1.x tests use it: span counts, tag maps, a few cross-service traces
// to give /api/dependencies something to count, and the comparison of one route's answer from Jaeger's query service
// with the answer of tracebucket's own /api.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';

/** A span's (or process's) tags as {key: value}. */
export function spanTags(spanOrProcess) {
  return Object.fromEntries((spanOrProcess.tags ?? []).map((t) => [t.key, t.value]));
}

/** {total, byOperation: {operation: count}} over Jaeger UI traces. */
export function jaegerSpanCounts(traces) {
  const byOperation = {};
  let total = 0;
  for (const trace of traces) {
    for (const span of trace.spans) {
      byOperation[span.operationName] = (byOperation[span.operationName] ?? 0) + 1;
      total++;
    }
  }
  return { total, byOperation };
}

/** Dependency links as {"parent → child": callCount}. */
export function dependencyTraceCounts(links) {
  return Object.fromEntries(links.map((l) => [`${l.parent} → ${l.child}`, l.callCount]));
}

const hex = (bytes) => crypto.randomBytes(bytes).toString('hex');

/**
 * Two small traces across three services, as OTLP/JSON, with the dependency links Jaeger derives from them
 * (a parent and child in different services make one call; same-service pairs make none):
 *   trace 1: v1-frontend "GET /cart" → v1-backend "get-cart" → v1-store "select", and → v1-frontend "render";
 *   trace 2: v1-frontend "GET /cart" → v1-backend "get-cart".
 */
export function crossServiceTraces(nowMs = Date.now()) {
  const spans = { 'v1-frontend': [], 'v1-backend': [], 'v1-store': [] };
  const add = (service, traceId, name, kind, parent, startOffsetMs, durationMs) => {
    const spanId = hex(8);
    const start = BigInt(nowMs - 5000 + startOffsetMs) * 1_000_000n;
    spans[service].push({
      traceId, spanId, parentSpanId: parent ?? '', name, kind,
      startTimeUnixNano: String(start), endTimeUnixNano: String(start + BigInt(durationMs) * 1_000_000n),
      attributes: [{ key: 'test.case', value: { stringValue: 'v1-dependencies' } }],
    });
    return spanId;
  };
  const SERVER = 2;
  const CLIENT = 3;
  const INTERNAL = 1;
  const t1 = hex(16);
  const root1 = add('v1-frontend', t1, 'GET /cart', SERVER, null, 0, 40);
  const backend1 = add('v1-backend', t1, 'get-cart', SERVER, root1, 5, 20);
  add('v1-store', t1, 'select', CLIENT, backend1, 10, 5);
  add('v1-frontend', t1, 'render', INTERNAL, root1, 30, 5);
  const t2 = hex(16);
  const root2 = add('v1-frontend', t2, 'GET /cart', SERVER, null, 100, 30);
  add('v1-backend', t2, 'get-cart', SERVER, root2, 105, 20);
  const otlp = {
    resourceSpans: Object.entries(spans).map(([service, list]) => ({
      resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
      scopeSpans: [{ scope: { name: 'v1-test' }, spans: list }],
    })),
  };
  return {
    otlp,
    services: Object.keys(spans).sort(),
    spanCount: Object.values(spans).reduce((n, list) => n + list.length, 0),
    dependencies: { 'v1-frontend → v1-backend': 2, 'v1-backend → v1-store': 1 },
  };
}

const byKey = (a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
/** A Jaeger UI trace with its tags sorted by key, its spans by ID, and processes named by their content. */
function adjustedForm(trace) {
  const processName = Object.fromEntries(Object.entries(trace.processes ?? {})
    .map(([id, p]) => [id, JSON.stringify({ ...p, tags: [...p.tags].sort(byKey) })]));
  const spans = trace.spans.map((span) => ({
    ...span,
    processID: processName[span.processID] ?? `unknown process ${span.processID}`,
    tags: [...span.tags].sort(byKey),
    logs: span.logs.map((log) => ({ ...log, fields: [...log.fields].sort(byKey) })),
  })).sort((a, b) => (a.spanID < b.spanID ? -1 : a.spanID > b.spanID ? 1 : 0));
  return { ...trace, spans, processes: Object.values(processName).sort() };
}

async function getAnswer(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  let body;
  try { body = JSON.parse(text); } catch { body = text; }
  return { status: res.status, body };
}

/**
 * What may legitimately differ between Jaeger's query service and tracebucket's /api for the same stored data, made
 * equal here (each rule says why it is not a difference in what is stored or found):
 *   * operation names of /api/services/{service}/operations: Jaeger's query service makes them unique through a Go
 *     map and answers them in its random order; the set is the answer, so they are sorted.
 *   * dependencies: Jaeger's query service sums links in a Go map and answers them in map order, which is random;
 *     the set of links is the answer, so links are sorted.
 *   * traces asked for without raw=true: Jaeger's query service then runs its adjusters, and tracebucket never adjusts
 *     (README, "Use with Grafana"). For spans written once, with distinct span IDs, no integer IP tags and a clock-skew
 *     limit of 0 (all-in-one's default), the adjusters change two things: they sort span tags, log fields and process
 *     tags by key, and the trace passes through Jaeger's OTLP model and back, which regroups its spans in a random
 *     order (seen: rotations of the stored order) and so may name its processes p1..pN differently. So both sides'
 *     tags are sorted by key, spans by ID, and each span's process is compared by content instead of by its pN name.
 *     Answers with raw=true are compared as they are: all-in-one then passes on what it read from tracebucket.
 */
export function normalizeApiAnswer(route, body) {
  if (typeof body !== 'object' || body === null || !Array.isArray(body.data)) return body;
  const data = [...body.data];
  // /api/services/{s}/operations: Jaeger makes the names unique through a Go map and answers them in map order.
  if (/^\/api\/services\/[^/]+\/operations/.test(route)) data.sort();
  if (route.startsWith('/api/dependencies')) data.sort((a, b) => `${a.parent}\n${a.child}`.localeCompare(`${b.parent}\n${b.child}`));
  if (route.startsWith('/api/traces') && !/[?&]raw=true/.test(route)) return { ...body, data: data.map(adjustedForm) };
  return { ...body, data };
}

/** Asks `route` of Jaeger's query service and of tracebucket's /api; the answers must be the same after normalizing. */
export async function assertSameApiAnswer(jaegerBase, tbBase, route) {
  const [jaeger, tb] = await Promise.all([getAnswer(`${jaegerBase}${route}`), getAnswer(`${tbBase}${route}`)]);
  assert.equal(tb.status, jaeger.status, `${route}: HTTP status (Jaeger ${jaeger.status}, tracebucket ${tb.status})`);
  assert.deepEqual(normalizeApiAnswer(route, tb.body), normalizeApiAnswer(route, jaeger.body),
    `${route}: tracebucket's /api answer (actual) differs from Jaeger's (expected)`);
}
