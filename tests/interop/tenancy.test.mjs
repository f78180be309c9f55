// Tenancy (issue 11 item 1), through real clients only: grpc-js (OTLP Export, Remote Storage v2 and v1), the
// OpenTelemetry JS SDK's OTLP exporters (HTTP JSON with a header, gRPC with metadata) and Node's fetch (/api,
// /api/v3, /admin/*, /purge).
//
// One server with tenancy on and an allow-list. Tenant team-a holds the Jaeger conformance fixtures, tenant team-b
// the same fixtures with every trace ID changed (first byte 0xbb), so that each tenant's answers can be compared
// exactly; each also holds data only it has (an SDK workload, a v1 span, a two-service trace for dependencies).
// team-a's spans are flushed into a block, team-b's stay in the head. Every door must answer each tenant with
// exactly its own data, and refuse a request without a tenant (UNAUTHENTICATED / 401) or outside the allow-list
// (PERMISSION_DENIED / 403). A restart must bring both tenants back.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import grpc from '@grpc/grpc-js';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { TbServer } from './lib/server.mjs';
import { TbClients, assembleStream, foundTraceIds, withMetadata } from './lib/clients.mjs';
import { V1Clients } from './lib/storage_v1.mjs';
import { spansFromOtlpJson } from './lib/canonical.mjs';
import {
  durationFromNanos, fixturesOfQueries, loadQueries, makeDateShift, otlpJsonToProto, queryToParams, shiftedFixtureText,
  timestampFromNanos,
} from './lib/fixtures.mjs';
import { assertStreamEquals, traceIdsOf } from './lib/checks.mjs';
import { makeProvider, runWorkload } from './lib/sdk.mjs';
import { grpcErrorDetails, retryDelayMsOf } from './lib/rpc_status.mjs';

const SHIFT = makeDateShift();
const QUERIES = loadQueries(SHIFT);
const FIXTURES = fixturesOfQueries(QUERIES);
const TENANTS = ['team-a', 'team-b'];

// team-b's copy of a fixture: the same spans under other trace IDs (links too).
const retag = (tenant, text) => (tenant === 'team-a' ? text : text.replace(/("traceId"\s*:\s*")[0-9a-fA-F]{2}/g, '$1bb'));
const fixtureText = (tenant, name) => retag(tenant, shiftedFixtureText(name, SHIFT));
const expectedOf = (tenant, names) => names.flatMap((n) => spansFromOtlpJson(fixtureText(tenant, n)));

// A trace from <tenant>-front to <tenant>-back: one dependency edge that only this tenant has.
function edgeTraceDoc(tenant, traceIdHex) {
  const start = BigInt(Date.now() - 60_000) * 1_000_000n;
  const span = (service, spanId, parentSpanId, kind) => ({
    resource: { attributes: [{ key: 'service.name', value: { stringValue: `${tenant}-${service}` } }] },
    scopeSpans: [{
      scope: { name: 'tenancy-test' },
      spans: [{
        traceId: traceIdHex, spanId, parentSpanId, name: `${service}-op`, kind,
        startTimeUnixNano: String(start), endTimeUnixNano: String(start + 1_000_000n),
      }],
    }],
  });
  return { resourceSpans: [span('front', '0000000000000a01', '', 2), span('back', '0000000000000a02', '0000000000000a01', 3)] };
}
const EDGE_TRACE = { 'team-a': 'a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1', 'team-b': 'b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2' };

// A v1 span of service v1-<tenant>.
function v1Span(tenant) {
  const start = BigInt(Date.now() - 30_000) * 1_000_000n;
  return {
    traceId: Buffer.from(tenant === 'team-a' ? 'c3'.repeat(16) : 'd4'.repeat(16), 'hex'),
    spanId: Buffer.from('00000000000000c3', 'hex'),
    operationName: 'v1-op',
    startTime: timestampFromNanos(start),
    duration: { seconds: 0, nanos: 5_000_000 },
    process: { serviceName: `v1-${tenant}`, tags: [] },
  };
}

// The service.name of every resource of an OTLP/JSON document.
const servicesOf = (text) => (JSON.parse(text).resourceSpans ?? [])
  .map((rs) => rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value?.stringValue);

const headers = (tenant) => (tenant ? { 'x-tenant': tenant } : {});

async function httpGet(server, path, tenant) {
  const res = await fetch(`${server.httpBase}${path}`, { headers: headers(tenant), signal: AbortSignal.timeout(30_000) });
  return { status: res.status, body: await res.text() };
}
async function httpPost(server, path, tenant, body = undefined, type = 'application/json') {
  const res = await fetch(`${server.httpBase}${path}`, {
    method: 'POST', headers: { ...headers(tenant), 'content-type': type }, body, signal: AbortSignal.timeout(60_000),
  });
  return { status: res.status, body: await res.text() };
}

/** The services and spans each tenant must see, filled in while writing. */
const held = Object.fromEntries(TENANTS.map((t) => [t, { services: new Set(), sdkTraceIds: [] }]));

describe('tenancy: two tenants on one server', () => {
  let server;
  const clients = {};
  const v1 = {};
  const openClients = () => {
    for (const t of [...TENANTS, 'team-c', 'team-x', null]) {
      const options = t ? { interceptors: [withMetadata({ 'x-tenant': t })] } : {};
      clients[t] = new TbClients(server.grpcAddress, options);
      v1[t] = new V1Clients(server.grpcAddress, options);
    }
  };
  const closeClients = () => {
    for (const c of [...Object.values(clients), ...Object.values(v1)]) c.close();
  };

  before(async () => {
    server = await TbServer.start({ extraArgs: ['--tenancy', '--tenants', 'team-a,team-b,team-c', '--no-background-flush'] });
    openClients();
    for (const t of TENANTS) {
      // The conformance fixtures: team-a through grpc-js Export, team-b as OTLP/HTTP JSON text.
      for (const name of FIXTURES) {
        const text = fixtureText(t, name);
        if (t === 'team-a') {
          await clients[t].export(otlpJsonToProto(JSON.parse(text)));
        } else {
          const r = await httpPost(server, '/v1/traces', t, text);
          assert.equal(r.status, 200, r.body);
        }
        for (const service of servicesOf(text)) held[t].services.add(service);
      }
      // An SDK workload of service sdk-<tenant>: team-a through the OTLP/HTTP JSON exporter with the header,
      // team-b through the OTLP gRPC exporter with metadata.
      const metadata = new grpc.Metadata();
      metadata.set('x-tenant', t);
      const exporter = t === 'team-a'
        ? new JsonExporter({ url: `${server.httpBase}/v1/traces`, headers: { 'x-tenant': t }, timeoutMillis: 20_000 })
        : new GrpcExporter({ url: `http://${server.grpcAddress}`, metadata, timeoutMillis: 20_000 });
      const { provider, recording } = makeProvider(exporter, { 'service.name': `sdk-${t}` });
      held[t].sdkTraceIds = runWorkload(provider.getTracer('tenancy'), { requests: 5 }).traceIds;
      await provider.forceFlush();
      await provider.shutdown();
      assert.deepEqual(recording.failures(), [], `SDK exporter for ${t}`);
      // A v1 span and the two-service trace.
      await v1[t].writeSpan(v1Span(t));
      const r = await httpPost(server, '/v1/traces', t, JSON.stringify(edgeTraceDoc(t, EDGE_TRACE[t])));
      assert.equal(r.status, 200, r.body);
      for (const s of [`sdk-${t}`, `v1-${t}`, `${t}-front`, `${t}-back`]) held[t].services.add(s);
    }
    // team-a's spans go to a block; team-b's stay in the head.
    const flushed = await httpPost(server, '/admin/flush', 'team-a');
    assert.equal(flushed.status, 200, flushed.body);
  }, { timeout: 180_000 });

  after(async () => {
    closeClients();
    if (server) {
      try { await server.stop(); } finally { await server.dispose(); }
    }
  }, { timeout: 60_000 });

  test('the fixtures name the services the test expects', () => {
    // Guards the expectation itself: both tenants hold the same fixture services plus their own four.
    for (const t of TENANTS) assert.ok(held[t].services.size > 4 && !held[t].services.has(undefined), [...held[t].services].join());
  });

  for (const t of TENANTS) {
    const other = t === 'team-a' ? 'team-b' : 'team-a';

    test(`${t}: Remote Storage v2 FindTraces and FindTraceIDs answer the 25 conformance cases exactly`, async () => {
      for (const [i, q] of QUERIES.entries()) {
        const expected = expectedOf(t, q.ExpectedFixtures);
        const messages = await clients[t].findTraces(queryToParams(q.Query));
        assertStreamEquals(messages, expected, `${t} case ${i + 1} ${q.Caption}`);
        const { ids } = foundTraceIds(await clients[t].findTraceIds(queryToParams(q.Query)));
        assert.deepEqual(ids.sort(), traceIdsOf(expected), `${t} case ${i + 1} FindTraceIDs`);
      }
    });

    test(`${t}: services on v2, v1, /api and /api/v3 are exactly its own`, async () => {
      const want = [...held[t].services].sort();
      assert.deepEqual([...(await clients[t].getServices()).services].sort(), want, 'v2 GetServices');
      assert.deepEqual([...(await v1[t].getServices()).services].sort(), want, 'v1 GetServices');
      assert.deepEqual(JSON.parse((await httpGet(server, '/api/services', t)).body).data.sort(), want, '/api/services');
      assert.deepEqual(JSON.parse((await httpGet(server, '/api/v3/services', t)).body).services.sort(), want, '/api/v3/services');
      const ops = await clients[t].getOperations(`sdk-${other}`);
      assert.deepEqual(ops.operations, [], `v2 GetOperations of ${other}'s service`);
      const apiOps = JSON.parse((await httpGet(server, `/api/services/sdk-${other}/operations`, t)).body);
      assert.equal(apiOps.data, null, `/api operations of ${other}'s service`);
    });

    test(`${t}: its own traces by ID on every read door; ${other}'s are unknown`, async () => {
      const own = EDGE_TRACE[t];
      const foreign = EDGE_TRACE[other];
      assert.equal(assembleStream(await clients[t].getTraces([own])).spans.length, 2, 'v2 GetTraces own');
      assert.equal(assembleStream(await clients[t].getTraces([foreign])).spans.length, 0, 'v2 GetTraces foreign');
      const chunks = await v1[t].getTrace(own);
      assert.equal(chunks.flatMap((c) => c.spans).length, 2, 'v1 GetTrace own');
      await assert.rejects(v1[t].getTrace(foreign), (e) => e.code === grpc.status.NOT_FOUND, 'v1 GetTrace foreign');
      assert.equal((await httpGet(server, `/api/traces/${own}`, t)).status, 200, '/api/traces own');
      assert.equal((await httpGet(server, `/api/traces/${foreign}`, t)).status, 404, '/api/traces foreign');
      assert.equal((await httpGet(server, `/api/v3/traces/${own}`, t)).status, 200, '/api/v3/traces own');
      assert.equal((await httpGet(server, `/api/v3/traces/${foreign}`, t)).status, 404, '/api/v3/traces foreign');
      // SDK traces written through the exporters.
      const sdk = assembleStream(await clients[t].getTraces(held[t].sdkTraceIds));
      assert.deepEqual([...sdk.spansByTrace.keys()].sort(), [...held[t].sdkTraceIds].sort(), 'SDK traces');
      assert.equal(assembleStream(await clients[t].getTraces(held[other].sdkTraceIds)).spans.length, 0, `${other}'s SDK traces`);
    });

    test(`${t}: dependencies on v2, v1 and /api have its own edge and not ${other}'s`, async () => {
      // A window over every span: a block counts only when it lies wholly inside (team-a's block holds the
      // date-shifted fixtures too).
      const DAY = 86_400_000;
      const start = timestampFromNanos(BigInt(Date.now() - 30 * DAY) * 1_000_000n);
      const end = timestampFromNanos(BigInt(Date.now() + DAY) * 1_000_000n);
      const edges = (deps) => deps.map((d) => `${d.parent}->${d.child}`).sort();
      const v2 = edges((await clients[t].getDependencies(start, end)).dependencies);
      const v1deps = edges((await v1[t].getDependencies(start, end)).dependencies);
      const api = edges(JSON.parse((await httpGet(server, `/api/dependencies?endTs=${Date.now() + DAY}&lookback=${31 * DAY}`, t)).body).data);
      for (const [door, got] of [['v2', v2], ['v1', v1deps], ['/api', api]]) {
        assert.ok(got.includes(`${t}-front->${t}-back`), `${door}: ${got.join(', ')}`);
        assert.ok(!got.some((e) => e.includes(other)), `${door} shows ${other}'s edge: ${got.join(', ')}`);
      }
      assert.deepEqual(v1deps, v2, 'v1 = v2');
      assert.deepEqual(api, v2, '/api = v2');
    });
  }

  test('/admin/blocks is per tenant: team-a has the block, team-b none', async () => {
    const blocks = async (t) => JSON.parse((await httpGet(server, '/admin/blocks', t)).body).blocks;
    const a = await blocks('team-a');
    assert.equal(a.length, 1);
    assert.equal(a[0].tenant, 'team-a');
    assert.deepEqual(await blocks('team-b'), []);
  });

  test('a tenant of the allow-list with no data sees nothing', async () => {
    assert.deepEqual((await clients['team-c'].getServices()).services, []);
    assert.deepEqual(JSON.parse((await httpGet(server, '/api/v3/services', 'team-c')).body).services, []);
  });

  test('no tenant: UNAUTHENTICATED on every gRPC door, 401 on every HTTP door; /live and /ready stay open', async () => {
    const unauthenticated = (e) => e.code === grpc.status.UNAUTHENTICATED && /x-tenant/.test(e.details);
    await assert.rejects(clients[null].export(otlpJsonToProto(edgeTraceDoc('x', EDGE_TRACE['team-a']))), unauthenticated);
    await assert.rejects(clients[null].getServices(), unauthenticated);
    await assert.rejects(clients[null].getTraces([EDGE_TRACE['team-a']]), unauthenticated);
    await assert.rejects(v1[null].writeSpan(v1Span('team-a')), unauthenticated);
    await assert.rejects(v1[null].getServices(), unauthenticated);
    for (const path of ['/api/services', '/api/v3/services', '/api/traces/' + EDGE_TRACE['team-a'], '/admin/blocks']) {
      const r = await httpGet(server, path, null);
      assert.equal(r.status, 401, `${path}: ${r.body}`);
      assert.equal(JSON.parse(r.body).code, 16, r.body);
    }
    for (const path of ['/v1/traces', '/admin/flush', '/purge']) {
      assert.equal((await httpPost(server, path, null, '{}')).status, 401, path);
    }
    assert.equal((await httpGet(server, '/live', null)).status, 200);
    assert.equal((await httpGet(server, '/ready', null)).status, 200);
  });

  test('a tenant outside the allow-list: PERMISSION_DENIED / 403', async () => {
    const denied = (e) => e.code === grpc.status.PERMISSION_DENIED && /team-x/.test(e.details);
    await assert.rejects(clients['team-x'].getServices(), denied);
    await assert.rejects(clients['team-x'].export(otlpJsonToProto(edgeTraceDoc('x', EDGE_TRACE['team-a']))), denied);
    await assert.rejects(v1['team-x'].getServices(), denied);
    for (const path of ['/api/services', '/api/v3/services', '/admin/blocks'])
      assert.equal((await httpGet(server, path, 'team-x')).status, 403, path);
    assert.equal((await httpPost(server, '/v1/traces', 'team-x', '{}')).status, 403);
    assert.equal((await httpPost(server, '/purge', 'team-x')).status, 403);
  });

  test('a restart brings both tenants back (team-a from its block, team-b from its WAL)', async () => {
    closeClients();
    await server.stop();
    await server.restart();
    openClients();
    for (const t of TENANTS) {
      const want = [...held[t].services].sort();
      assert.deepEqual([...(await clients[t].getServices()).services].sort(), want, `${t} after restart`);
      const all = QUERIES.flatMap((q) => q.ExpectedFixtures);
      const trace = expectedOf(t, [all[0]]);
      assert.equal(assembleStream(await clients[t].getTraces(traceIdsOf(trace))).spans.length, trace.length);
    }
  });

  test('POST /purge as team-b empties team-b only', async () => {
    const r = await httpPost(server, '/purge', 'team-b');
    assert.equal(r.status, 200, r.body);
    assert.deepEqual((await clients['team-b'].getServices()).services, []);
    assert.deepEqual([...(await clients['team-a'].getServices()).services].sort(), [...held['team-a'].services].sort());
  });
});

// Per-tenant limits (limits.tenants, limits.max_tenants): one tenant over its ingest rate or its share of the head
// budget gets back-pressure (RESOURCE_EXHAUSTED with a retry delay / HTTP 429), and the others write on; a tenant
// beyond limits.max_tenants is refused on every door.
describe('tenancy: per-tenant limits', () => {
  const RATE = 400; // team-a's spans per second, with a burst of as many
  let server;
  const clients = {};
  before(async () => {
    server = await TbServer.start({
      extraArgs: ['--tenancy', '--no-background-flush', '--head-memory-budget', '32MiB'],
      env: {
        TRACEBUCKET_LIMITS_TENANTS: `{team-a: {ingest_spans_per_second: ${RATE}}, team-b: {head_share_percent: 5}}`,
        TRACEBUCKET_LIMITS_MAX_TENANTS: '3', // default, team-a and team-b
      },
    });
    for (const t of ['team-a', 'team-b', 'default', 'team-c']) {
      clients[t] = new TbClients(server.grpcAddress, { interceptors: [withMetadata({ 'x-tenant': t })] });
    }
  });
  after(async () => {
    for (const c of Object.values(clients)) c.close();
    if (server) {
      try { await server.stop(); } finally { await server.dispose(); }
    }
  }, { timeout: 60_000 });

  // An OTLP/JSON document of `n` one-span traces of `service`, trace IDs from `prefix` and `first`.
  const batchDoc = (service, prefix, first, n, payloadBytes = 0) => ({
    resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
      scopeSpans: [{
        scope: { name: 'limits-test' },
        spans: Array.from({ length: n }, (_, i) => {
          const start = BigInt(Date.now() - 10_000) * 1_000_000n;
          return {
            traceId: prefix + (first + i).toString(16).padStart(32 - prefix.length, '0'),
            spanId: '00000000000000e1', name: 'op', kind: 2,
            startTimeUnixNano: String(start), endTimeUnixNano: String(start + 1_000_000n),
            attributes: payloadBytes ? [{ key: 'payload', value: { stringValue: 'p'.repeat(payloadBytes) } }] : [],
          };
        }),
      }],
    }],
  });
  const countTraces = async (tenant, service) => {
    const r = await clients[tenant].findTraceIds({
      serviceName: service, operationName: '', attributes: [],
      startTimeMin: timestampFromNanos(BigInt(Date.now() - 3_600_000) * 1_000_000n),
      startTimeMax: timestampFromNanos(BigInt(Date.now() + 60_000) * 1_000_000n),
      durationMin: durationFromNanos(0), durationMax: durationFromNanos(0), searchDepth: 10_000,
    });
    const { ids, problems } = foundTraceIds(r);
    assert.deepEqual(problems, []);
    return ids.length;
  };

  test('team-a over its ingest rate gets RESOURCE_EXHAUSTED with a retry delay; team-b writes on', async (t) => {
    let acked = 0;
    let refusal;
    const started = Date.now();
    for (let i = 0; i < 100 && !refusal; i++) {
      try {
        await clients['team-a'].export(otlpJsonToProto(batchDoc('rate-a', 'aa', i * 50, 50)));
        acked += 50;
      } catch (err) {
        refusal = err;
      }
    }
    const seconds = (Date.now() - started) / 1000;
    assert.ok(refusal, `no refusal after ${acked} spans`);
    assert.equal(refusal.code, grpc.status.RESOURCE_EXHAUSTED, refusal.details);
    assert.match(refusal.details, /ingest rate limit: 400 spans\/s/);
    assert.equal(retryDelayMsOf(grpcErrorDetails(refusal)), 1000, 'no RetryInfo on the refusal');
    // The burst, plus what the rate earned while writing (one batch of slack).
    assert.ok(acked >= RATE && acked <= RATE + RATE * seconds + 50, `${acked} spans acknowledged in ${seconds} s`);
    // team-b has no rate limit: 2,000 spans at once pass.
    for (let i = 0; i < 10; i++) await clients['team-b'].export(otlpJsonToProto(batchDoc('rate-b', 'bb', i * 200, 200)));
    // OTLP/HTTP is refused the same way, with 429 and Retry-After.
    const res = await fetch(`${server.httpBase}/v1/traces`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-tenant': 'team-a' },
      body: JSON.stringify(batchDoc('rate-a', 'ab', 0, 400)),
    });
    assert.equal(res.status, 429, await res.text());
    assert.ok(res.headers.get('retry-after'), 'no Retry-After on the 429');
    // What was acknowledged is stored, and nothing refused is.
    assert.equal(await countTraces('team-a', 'rate-a'), acked);
    assert.equal(await countTraces('team-b', 'rate-b'), 2000);
    // A second later the rate has refilled.
    await new Promise((r) => setTimeout(r, 1100));
    await clients['team-a'].export(otlpJsonToProto(batchDoc('rate-a', 'ac', 0, 50)));
    t.diagnostic(`team-a: ${acked} spans acknowledged in ${seconds.toFixed(2)} s before the refusal`);
  });

  test('team-b at its 5% share of the head budget gets back-pressure; the default tenant writes on', async (t) => {
    let acked = 0;
    let refusal;
    for (let i = 0; i < 400 && !refusal; i++) {
      const res = await fetch(`${server.httpBase}/v1/traces`, {
        method: 'POST', headers: { 'content-type': 'application/json', 'x-tenant': 'team-b' },
        body: JSON.stringify(batchDoc('share-b', 'bc', i * 20, 20, 2000)),
      });
      if (res.status === 200) acked += 20;
      else refusal = { status: res.status, body: await res.text() };
    }
    assert.ok(refusal, `no refusal after ${acked} spans of 2 kB`);
    assert.equal(refusal.status, 429, refusal.body);
    assert.match(refusal.body, /tenant team-b's head share full/);
    // 5% of 32 MiB is 1.6 MiB: far less than the whole budget holds.
    assert.ok(acked > 50 && acked < 2000, `${acked} spans of 2 kB in team-b's share`);
    for (let i = 0; i < 5; i++) {
      await clients.default.export(otlpJsonToProto(batchDoc('share-default', 'dd', i * 100, 100, 2000)));
    }
    assert.equal(await countTraces('default', 'share-default'), 500);
    assert.equal(await countTraces('team-b', 'share-b'), acked);
    t.diagnostic(`team-b: ${acked} spans of 2 kB before its share was full`);
  });

  test('a fourth tenant is refused on every door once limits.max_tenants (3) are served', async () => {
    await assert.rejects(clients['team-c'].export(otlpJsonToProto(batchDoc('cap-c', 'cc', 0, 1))),
      (e) => e.code === grpc.status.RESOURCE_EXHAUSTED && /limits\.max_tenants/.test(e.details));
    await assert.rejects(clients['team-c'].getServices(),
      (e) => e.code === grpc.status.RESOURCE_EXHAUSTED && /limits\.max_tenants/.test(e.details));
    const res = await fetch(`${server.httpBase}/api/services`, { headers: { 'x-tenant': 'team-c' } });
    const body = await res.text();
    assert.equal(res.status, 429, body);
    assert.match(body, /limits\.max_tenants/);
  });
});
