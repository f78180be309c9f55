// Dependencies as Jaeger's own store counts them (docs/jaeger-semantics.md §7): all-in-one v1.75 with its in-memory
// store (SPAN_STORAGE_TYPE=memory, Jaeger's code end to end: OTLP receiver, model translation, store, query service)
// and tracebucket are sent the same OTLP/JSON documents, and their /api/dependencies answers must be the same links
// with the same call counts. The documents are the web-shop workload of the interop suites (calls inside one service,
// a consumer root linked to its producer, a 2,430-span trace) plus traces made for the parent rule's corners: roots
// linked into their own trace and into others, links marked child_of / follows_from, a link that turns the parent
// reference into FOLLOWS_FROM, and a parent that is not in the trace.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { TbServer } from '../interop/lib/server.mjs';
import { generateWebShop, webShopOtlp } from '../interop/lib/webshop.mjs';
import { Program, fetchJaeger, freePorts, getJson, httpStatus, programPath, quietTracingEnv } from './lib/jaeger_programs.mjs';
import { assertSameApiAnswer, dependencyTraceCounts } from './lib/jaeger_api.mjs';

const fetched = await fetchJaeger(['all-in-one']);
const NOW_MS = Date.now();
const MS = 1_000_000n;

/** Starts all-in-one v1.75 with Jaeger's in-memory store, every one of its ports explicit and free. */
async function startAllInOneWithMemory(dir, taken) {
  const ports = await freePorts(['admin', 'collectorGrpc', 'collectorHttp', 'otlpGrpc', 'otlpHttp', 'zipkin', 'queryGrpc',
    'queryHttp', 'dead'], taken);
  const at = (name) => `127.0.0.1:${ports[name]}`;
  const args = [
    `--admin.http.host-port=${at('admin')}`,
    `--collector.grpc-server.host-port=${at('collectorGrpc')}`,
    `--collector.http-server.host-port=${at('collectorHttp')}`,
    '--collector.otlp.enabled=true',
    `--collector.otlp.grpc.host-port=${at('otlpGrpc')}`,
    `--collector.otlp.http.host-port=${at('otlpHttp')}`,
    `--collector.zipkin.host-port=${at('zipkin')}`,
    `--query.grpc-server.host-port=${at('queryGrpc')}`,
    `--query.http-server.host-port=${at('queryHttp')}`,
  ];
  const program = new Program('all-in-one', programPath(dir, 'all-in-one'), args,
    { SPAN_STORAGE_TYPE: 'memory', ...quietTracingEnv(`http://${at('dead')}`) });
  await program.waitUntil(async () => (await httpStatus(`http://${at('admin')}/`)) === 200, { what: 'healthy' });
  return { program, query: `http://${at('queryHttp')}`, otlpHttp: `http://${at('otlpHttp')}` };
}

const hex = (bytes) => crypto.randomBytes(bytes).toString('hex');

/**
 * Traces for the corners of the parent rule, as OTLP/JSON spans grouped by service. Jaeger's model makes a span's
 * parent its first CHILD_OF reference within its trace, else its first FOLLOWS_FROM one there; the OTLP parent is the
 * first reference (CHILD_OF), links follow (FOLLOWS_FROM unless marked child_of).
 */
function cornerCases() {
  const byService = new Map();
  let n = 0;
  const add = (service, traceId, { parent = '', links = [] } = {}) => {
    const spanId = hex(8);
    const start = BigInt(NOW_MS - 60_000 + n++) * MS;
    if (!byService.has(service)) byService.set(service, []);
    byService.get(service).push({ traceId, spanId, parentSpanId: parent, name: `${service} op`, kind: 1,
      startTimeUnixNano: String(start), endTimeUnixNano: String(start + 5n * MS), links });
    return spanId;
  };
  const link = (traceId, spanId, refType) => ({ traceId, spanId,
    attributes: refType ? [{ key: 'opentracing.ref_type', value: { stringValue: refType } }] : [] });
  const other = hex(16);
  const otherRoot = add('corner-elsewhere', other);
  // A root linked into another trace, then into its own: the link into its own trace makes the parent.
  const t1 = hex(16);
  const a1 = add('corner-a', t1);
  add('corner-b', t1, { links: [link(other, otherRoot), link(t1, a1)] });
  // A root whose first in-trace link is follows_from and a later one child_of: CHILD_OF wins.
  const t2 = hex(16);
  const a2 = add('corner-a', t2);
  const d2 = add('corner-d', t2, { parent: a2 });
  add('corner-c', t2, { links: [link(t2, a2, 'follows_from'), link(t2, d2, 'child_of')] });
  // A child whose link to its own parent says follows_from, with a child_of link after it: that link is the parent.
  const t3 = hex(16);
  const a3 = add('corner-a', t3);
  const d3 = add('corner-d', t3, { parent: a3 });
  add('corner-e', t3, { parent: a3, links: [link(t3, a3, 'follows_from'), link(t3, d3, 'child_of')] });
  // A parent that is not in the trace, and a root linked only into another trace: no calls.
  const t4 = hex(16);
  add('corner-a', t4, { parent: hex(8) });
  add('corner-f', t4, { links: [link(other, otherRoot, 'child_of')] });
  // Calls inside one service: no edge.
  const t5 = hex(16);
  const a5 = add('corner-a', t5);
  add('corner-a', t5, { parent: a5 });
  return {
    resourceSpans: [...byService].map(([service, spans]) => ({
      resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
      scopeSpans: [{ scope: { name: 'corner-cases' }, spans }],
    })),
    traceIds: [other, t1, t2, t3, t4, t5],
    spanCount: n,
  };
}

describe('/api/dependencies: tracebucket counts as Jaeger\'s in-memory store (all-in-one v1.75)', { skip: fetched.error }, () => {
  const shop = generateWebShop(BigInt(NOW_MS) * MS);
  const corners = cornerCases();
  const documents = [];
  for (let i = 0; i < shop.length; i += 20) documents.push(webShopOtlp(shop.slice(i, i + 20).flatMap((t) => t.spans)));
  documents.push({ resourceSpans: corners.resourceSpans });
  const traceIds = [...shop.map((t) => t.traceId), ...corners.traceIds];
  const spanCount = shop.reduce((n, t) => n + t.spans.length, 0) + corners.spanCount;

  let tb;
  let aio;
  before(async () => {
    tb = await TbServer.start({ extraArgs: ['--no-background-flush'] });
    aio = await startAllInOneWithMemory(fetched.dir, [tb.grpcPort, tb.httpPort]);
    for (const [i, doc] of documents.entries()) {
      const text = JSON.stringify(doc);
      const res = await fetch(`${aio.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' },
        body: text, signal: AbortSignal.timeout(30_000) });
      assert.equal(res.status, 200, `OTLP/HTTP POST to all-in-one: ${await res.text()}`);
      await tb.postJson(text);
      if (i === Math.floor(documents.length / 2)) await tb.flush(); // tracebucket: the older half from a block
    }
    // all-in-one's collector stores asynchronously: wait until its store holds every span.
    const query = traceIds.map((id) => `traceID=${id}`).join('&');
    await aio.program.waitUntil(async () => {
      const got = await getJson(`${aio.query}/api/traces?${query}`);
      return got.data.reduce((n, t) => n + t.spans.length, 0) === spanCount;
    }, { what: `holding all ${spanCount} spans`, timeoutMs: 60_000 });
  }, { timeout: 240_000 });
  after(async () => {
    if (aio) await aio.program.stop();
    if (tb) {
      try { await tb.stop(); } finally { await tb.dispose(); }
    }
  });

  const window = () => `endTs=${Date.now() + 60_000}&lookback=${2 * 3_600_000}`;

  test('the same links and call counts, every one between two different services', async () => {
    const route = `/api/dependencies?${window()}`;
    const jaeger = dependencyTraceCounts((await getJson(`${aio.query}${route}`)).data);
    // The data reaches every corner: a link-made edge, CHILD_OF before FOLLOWS_FROM, and calls inside services.
    for (const edge of ['checkout → fraud-detection', 'corner-a → corner-b', 'corner-d → corner-c', 'corner-d → corner-e']) {
      assert.ok(edge in jaeger, `Jaeger counts ${edge}: ${JSON.stringify(jaeger)}`);
    }
    assert.ok(Object.keys(jaeger).every((edge) => edge.split(' → ')[0] !== edge.split(' → ')[1]), 'Jaeger draws no self-loop');
    await assertSameApiAnswer(aio.query, tb.httpBase, route);
  });

  test('the service filter keeps the same links on both', async () => {
    for (const service of ['accounting', 'checkout', 'corner-a', 'corner-d']) {
      await assertSameApiAnswer(aio.query, tb.httpBase, `/api/dependencies?${window()}&service=${service}`);
    }
  });
});
