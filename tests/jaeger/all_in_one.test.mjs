// Jaeger 1.x against tracebucket: the v1 all-in-one of the Jaeger module (v1.75.0) with SPAN_STORAGE_TYPE=grpc, which
// writes through tracebucket's Remote Storage API v1 (streaming writer) and reads through its v1 reader and
// dependencies reader. Jaeger's tracegen sends traces to all-in-one's OTLP receiver; the test reads them back through
// all-in-one's query API (/api/services, /api/traces, /api/dependencies, ...) and checks them against what tracegen
// sent (tracegen's rules are in lib/tracegen.mjs), then asks tracebucket's own /api (its HTTP port) the same questions
// and compares the answers. Every port of both programs is chosen at run time.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { TbServer } from '../interop/lib/server.mjs';
import { Program, fetchJaeger, freePorts, getJson, httpStatus, programPath, quietTracingEnv } from './lib/jaeger_programs.mjs';
import { TracegenPlan, checkTracegenTrace, runTracegen } from './lib/tracegen.mjs';
import { assertSameApiAnswer, crossServiceTraces, dependencyTraceCounts, jaegerSpanCounts } from './lib/jaeger_api.mjs';

const fetched = await fetchJaeger(['all-in-one', 'tracegen']);

// 2 workers × 24 traces over 3 services, 1 + 4 spans each: 240 spans. 24 · 4 · 3 = 288 attribute values < 1000, so
// each trace's first attribute value names its trace number (lib/tracegen.mjs).
const PLAN = new TracegenPlan({ workers: 2, traces: 24, services: 3, spans: 4, attrs: 3 });
const VISIBLE_TIMEOUT_MS = 30_000;
// The tags Jaeger 1.75's OTLP receiver adds besides span.kind: the tracer's name as otel.scope.name.
const SCOPE_TAGS = { 'otel.scope.name': PLAN.service };

/** Starts all-in-one v1.75 on tracebucket's gRPC address, every one of its ports explicit and free. */
async function startAllInOne(dir, tb) {
  const ports = await freePorts(['admin', 'collectorGrpc', 'collectorHttp', 'otlpGrpc', 'otlpHttp', 'zipkin', 'queryGrpc',
    'queryHttp', 'dead'], [tb.grpcPort, tb.httpPort]);
  const at = (name) => `127.0.0.1:${ports[name]}`;
  const args = [
    `--grpc-storage.server=${tb.grpcAddress}`,
    `--admin.http.host-port=${at('admin')}`,
    `--collector.grpc-server.host-port=${at('collectorGrpc')}`,
    `--collector.http-server.host-port=${at('collectorHttp')}`,
    '--collector.otlp.enabled=true',
    `--collector.otlp.grpc.host-port=${at('otlpGrpc')}`,
    `--collector.otlp.http.host-port=${at('otlpHttp')}`,
    `--collector.zipkin.host-port=${at('zipkin')}`,
    `--query.grpc-server.host-port=${at('queryGrpc')}`,
    `--query.http-server.host-port=${at('queryHttp')}`,
    '--log-level=info',
  ];
  const program = new Program('all-in-one', programPath(dir, 'all-in-one'), args,
    { SPAN_STORAGE_TYPE: 'grpc', ...quietTracingEnv(`http://${at('dead')}`) });
  // The admin port's health check answers 200 once the collector and query servers are up.
  await program.waitUntil(async () => (await httpStatus(`http://${at('admin')}/`)) === 200, { what: 'healthy' });
  return { program, ports, query: `http://${at('queryHttp')}`, otlpHttp: `http://${at('otlpHttp')}` };
}

describe('Jaeger all-in-one v1.75 with SPAN_STORAGE_TYPE=grpc on tracebucket', { skip: fetched.error }, () => {
  let tb;
  let aio;
  let window; // µs bounds every query uses
  const extra = crossServiceTraces(); // cross-service traces for /api/dependencies (tracegen's stay in one service)

  before(async () => {
    tb = await TbServer.start();
    aio = await startAllInOne(fetched.dir, tb);
    const startMicros = Date.now() * 1000;
    const t0 = Date.now();
    await runTracegen(fetched.dir, PLAN, { exporter: 'otlp-http', endpoint: aio.otlpHttp });
    const res = await fetch(`${aio.otlpHttp}/v1/traces`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(extra.otlp), signal: AbortSignal.timeout(10_000),
    });
    assert.equal(res.status, 200, `OTLP/HTTP POST to all-in-one: ${await res.text()}`);
    window = { start: startMicros - 60e6, end: Date.now() * 1000 + 60e6 };
    // all-in-one's collector writes asynchronously (its queue): wait until tracebucket holds every span.
    const want = PLAN.totalSpans + extra.spanCount;
    let held = 0;
    while (Date.now() - t0 < VISIBLE_TIMEOUT_MS) {
      const spansByTrace = new Map(); // a cross-service trace is found under each of its services
      for (const service of [...PLAN.serviceNames, ...extra.services]) {
        for (const trace of (await tbTraces(service)).data) spansByTrace.set(trace.traceID, trace.spans.length);
      }
      held = [...spansByTrace.values()].reduce((a, b) => a + b, 0);
      if (held >= want) break;
      await sleep(200);
    }
    assert.equal(held, want, `tracebucket holds ${held} of the ${want} spans sent within ${VISIBLE_TIMEOUT_MS} ms;\n${aio.program.tail()}`);
  });

  after(async () => {
    const exit = await aio?.program.stop();
    await tb?.dispose();
    if (exit && exit.code !== 0 && exit.signal !== 'SIGTERM') assert.fail(`all-in-one exited with ${JSON.stringify(exit)}`);
  });

  const searchParams = (service, more = {}) => new URLSearchParams({
    service, start: String(window.start), end: String(window.end), limit: '1000', ...more,
  });
  // raw=true: all-in-one returns traces as stored, without its adjusters (clock skew, tag sorting, ...); tracebucket
  // never adjusts, so raw answers are the ones that must be identical.
  const aioTraces = (service, more) => getJson(`${aio.query}/api/traces?${searchParams(service, { raw: 'true', ...more })}`);
  const tbTraces = (service, more) => getJson(`${tb.httpBase}/api/traces?${searchParams(service, more)}`);

  test('/api/services lists exactly the services sent', async () => {
    const got = await getJson(`${aio.query}/api/services`);
    assert.deepEqual([...got.data].sort(), [...PLAN.serviceNames, ...extra.services].sort());
    assert.equal(got.total, got.data.length);
    await assertSameApiAnswer(aio.query, tb.httpBase, '/api/services');
  });

  test('operations per service are tracegen\'s, through both operation routes', async () => {
    const ops = PLAN.spansPerOperation();
    for (const service of PLAN.serviceNames) {
      const byPath = await getJson(`${aio.query}/api/services/${service}/operations`);
      assert.deepEqual([...byPath.data].sort(), Object.keys(ops[service]).sort(), service);
      const withKind = await getJson(`${aio.query}/api/operations?service=${service}`);
      const kinds = Object.fromEntries(withKind.data.map((o) => [o.name, o.spanKind]));
      const expectedKinds = Object.fromEntries(Object.keys(ops[service]).map((op) => [op, op === 'lets-go' ? 'server' : 'client']));
      assert.deepEqual(kinds, expectedKinds, `${service}: operations with span kinds`);
      const servers = await getJson(`${aio.query}/api/operations?service=${service}&spanKind=server`);
      assert.deepEqual(servers.data.map((o) => o.name), ['lets-go'], `${service}: server operations`);
      for (const route of [`/api/services/${service}/operations`, `/api/operations?service=${service}`,
        `/api/operations?service=${service}&spanKind=client`]) {
        await assertSameApiAnswer(aio.query, tb.httpBase, route);
      }
    }
  });

  test('span counts per service and operation are what tracegen sent', async () => {
    const wantTraces = PLAN.tracesPerService();
    const wantSpans = PLAN.spansPerOperation();
    for (const service of PLAN.serviceNames) {
      const got = await aioTraces(service);
      assert.equal(got.data.length, wantTraces[service], `${service}: traces`);
      assert.deepEqual(jaegerSpanCounts(got.data).byOperation, wantSpans[service], `${service}: spans per operation`);
    }
  });

  test('every trace matches tracegen\'s rules span by span', async () => {
    const seen = new Map(); // traceNo → how many copies (one per worker)
    for (const service of PLAN.serviceNames) {
      for (const trace of (await aioTraces(service)).data) {
        const traceNo = checkTracegenTrace(PLAN, trace, service, SCOPE_TAGS);
        seen.set(traceNo, (seen.get(traceNo) ?? 0) + 1);
      }
    }
    assert.deepEqual([...seen.keys()].sort((a, b) => a - b), Array.from({ length: PLAN.traces }, (_, i) => i), 'trace numbers seen');
    for (const [traceNo, copies] of seen) assert.equal(copies, PLAN.workers, `trace number ${traceNo}: one per worker`);
  });

  test('/api/traces searches and lookups by ID agree with tracebucket\'s own /api', async () => {
    for (const service of PLAN.serviceNames) {
      await assertSameApiAnswer(aio.query, tb.httpBase, `/api/traces?${searchParams(service, { raw: 'true' })}`);
      await assertSameApiAnswer(aio.query, tb.httpBase, `/api/traces?${searchParams(service, { raw: 'true', operation: 'child-span-02' })}`);
    }
    const service = PLAN.serviceOf(4);
    const [key, value] = PLAN.childAttributes(4, 1)[0];
    const byTag = await aioTraces(service, { tags: JSON.stringify({ [key]: value }) });
    assert.equal(byTag.data.length, PLAN.workers, `${key}=${value}: one trace per worker`);
    await assertSameApiAnswer(aio.query, tb.httpBase, `/api/traces?${searchParams(service, { raw: 'true', tags: JSON.stringify({ [key]: value }) })}`);
    await assertSameApiAnswer(aio.query, tb.httpBase, `/api/traces?${searchParams(service, { raw: 'true', minDuration: '400us' })}`);
    await assertSameApiAnswer(aio.query, tb.httpBase, `/api/traces?${searchParams(service, { raw: 'true', limit: '5' })}`);

    // Without raw=true Jaeger adjusts what it read (lib/jaeger_api.mjs says what that changes here).
    await assertSameApiAnswer(aio.query, tb.httpBase, `/api/traces?${searchParams(service)}`);
    // The cross-service traces: several processes per trace.
    for (const other of extra.services) {
      await assertSameApiAnswer(aio.query, tb.httpBase, `/api/traces?${searchParams(other, { raw: 'true' })}`);
      await assertSameApiAnswer(aio.query, tb.httpBase, `/api/traces?${searchParams(other)}`);
    }

    const ids = byTag.data.map((t) => t.traceID);
    for (const id of ids) {
      await assertSameApiAnswer(aio.query, tb.httpBase, `/api/traces/${id}?raw=true`);
      await assertSameApiAnswer(aio.query, tb.httpBase, `/api/traces/${id}`);
    }
    await assertSameApiAnswer(aio.query, tb.httpBase, `/api/traces?${new URLSearchParams([...ids.map((id) => ['traceID', id]), ['raw', 'true']])}`);
    const unknown = 'abcdef0123456789abcdef0123456789';
    assert.equal(await httpStatus(`${aio.query}/api/traces/${unknown}`), 404, 'all-in-one: unknown trace');
    assert.equal(await httpStatus(`${tb.httpBase}/api/traces/${unknown}`), 404, 'tracebucket: unknown trace');
  });

  test('/api/dependencies counts cross-service calls only, as tracebucket\'s own /api does', async () => {
    const params = new URLSearchParams({ endTs: String(Math.ceil(window.end / 1000)), lookback: String(Math.ceil((window.end - window.start) / 1000)) });
    const got = await getJson(`${aio.query}/api/dependencies?${params}`);
    // tracegen's parents and children share a service, so only the extra traces make edges (Jaeger skips same-service
    // pairs: docs/jaeger-semantics.md).
    assert.deepEqual(dependencyTraceCounts(got.data), extra.dependencies);
    await assertSameApiAnswer(aio.query, tb.httpBase, `/api/dependencies?${params}`);
    await assertSameApiAnswer(aio.query, tb.httpBase, `/api/dependencies?${params}&service=${extra.services[0]}`);
  });
});
