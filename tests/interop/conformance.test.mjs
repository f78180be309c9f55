// Jaeger storage-integration conformance, driven through third-party clients only:
//   writes: Node's fetch (OTLP/HTTP JSON, the fixture text as it is) and grpc-js TraceService/Export;
//   reads:  grpc-js jaeger.storage.v2.TraceReader / Capabilities, built from the project's own .proto files.
// Cases and fixtures: tests/conformance/jaeger (jaegertracing/jaeger 8498073); semantics: jaeger-api.md §2.7, §4, §5.2.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TbServer } from './lib/server.mjs';
import { TbClients, assembleStream, foundTraceIds } from './lib/clients.mjs';
import { cloneSpans, diffTraces, spansFromOtlpJson } from './lib/canonical.mjs';
import {
  chunkDoc, durationFromNanos, fixturesOfQueries, largeTraceJson, loadQueries, makeDateShift, otlpJsonToProto,
  queryToParams, shiftedFixtureText, timestampFromNanos, ZERO_TIMESTAMP,
} from './lib/fixtures.mjs';
import { assertSameTraces, assertStreamEquals, completeOrWrong, readUntil, traceIdsOf } from './lib/checks.mjs';

const SHIFT = makeDateShift();
const QUERIES = loadQueries(SHIFT);
const QUERY_FIXTURES = fixturesOfQueries(QUERIES);
const EXAMPLE_TRACE_ID = '00000000000000000000000000000011';

const fixtureDoc = (name) => JSON.parse(shiftedFixtureText(name, SHIFT));
const expectedOf = (names) => names.flatMap((n) => spansFromOtlpJson(shiftedFixtureText(n, SHIFT)));
const caseName = (i, q) => `${String(i + 1).padStart(2, '0')} ${q.Caption}`;

// Two ways in. (a) the date-shifted fixture text itself over OTLP/HTTP JSON; (b) the same data as an
// ExportTraceServiceRequest over grpc-js.
const WRITERS = [
  {
    name: 'OTLP/HTTP JSON (fixture text as is)',
    async write(server, _clients, names) {
      for (const n of names) await server.postJson(shiftedFixtureText(n, SHIFT));
    },
  },
  {
    name: 'OTLP/gRPC Export',
    async write(_server, clients, names) {
      for (const n of names) await exportOk(clients, otlpJsonToProto(shiftedFixtureText(n, SHIFT)));
    },
  },
];

async function exportOk(clients, request, opts) {
  const res = await clients.export(request, opts);
  const rejected = res?.partialSuccess?.rejectedSpans;
  assert.ok(!rejected || rejected === '0', `Export rejected ${rejected} span(s): ${res.partialSuccess?.errorMessage}`);
  return res;
}

/** A server for one describe block: started before its tests, stopped (exit code 0 asserted) after. */
function useServer() {
  const ctx = {};
  before(async () => {
    ctx.server = await TbServer.start();
    ctx.clients = new TbClients(ctx.server.grpcAddress);
  }, { timeout: 60_000 });
  after(async () => {
    ctx.clients?.close();
    if (ctx.server) {
      try { await ctx.server.stop(); } finally { await ctx.server.dispose(); }
    }
  }, { timeout: 60_000 });
  return ctx;
}

async function findTracesChecked(clients, params, expected, context) {
  const want = traceIdsOf(expected);
  const messages = await readUntil(() => clients.findTraces(params),
    (msgs) => completeOrWrong([...assembleStream(msgs).spansByTrace.keys()], want));
  return assertStreamEquals(messages, expected, context);
}

async function findTraceIdsChecked(clients, params, expectedIds, context) {
  const resp = await readUntil(() => clients.findTraceIds(params),
    (r) => completeOrWrong(foundTraceIds(r).ids, expectedIds));
  const { ids, problems } = foundTraceIds(resp);
  assert.deepEqual(problems, [], `${context}: FoundTraceID problems`);
  assert.equal(ids.length, new Set(ids).size, `${context}: duplicate ids in ${ids.join(', ')}`);
  assert.deepEqual([...ids].sort(), [...expectedIds].sort(), `${context}: trace ids`);
}

describe('Jaeger conformance: the 25 queries.json cases', () => {
  const ctx = useServer();

  for (const writer of WRITERS) {
    describe(`written via ${writer.name}`, () => {
      before(async () => {
        await ctx.server.purge();
        await writer.write(ctx.server, ctx.clients, QUERY_FIXTURES);
      }, { timeout: 120_000 });

      for (const [i, q] of QUERIES.entries()) {
        test(`FindTraces ${caseName(i, q)}`, async () => {
          await findTracesChecked(ctx.clients, queryToParams(q.Query), expectedOf(q.ExpectedFixtures), caseName(i, q));
        });
      }

      for (const [i, q] of QUERIES.entries()) {
        test(`FindTraceIDs ${caseName(i, q)}`, async () => {
          await findTraceIdsChecked(ctx.clients, queryToParams(q.Query), traceIdsOf(expectedOf(q.ExpectedFixtures)),
            caseName(i, q));
        });
      }

      // api_v3 style: every tag value as a string ("123", "72.5", "true") must match by canonical string form.
      for (const [i, q] of QUERIES.entries()) {
        if (!Object.keys(q.Query.Tags ?? {}).length) continue;
        test(`FindTraces with string-typed tags ${caseName(i, q)}`, async () => {
          await findTracesChecked(ctx.clients, queryToParams(q.Query, { typed: false }), expectedOf(q.ExpectedFixtures),
            `${caseName(i, q)} (string tags)`);
        });
      }
    });
  }
});

describe('Jaeger conformance: services, operations, get-trace', () => {
  const ctx = useServer();

  test('GetServices after purge + example_trace is exactly the three example services', async () => {
    await exportOk(ctx.clients, otlpJsonToProto(fixtureDoc('multiple1_trace'))); // something the purge must remove
    await ctx.server.purge();
    await exportOk(ctx.clients, otlpJsonToProto(fixtureDoc('example_trace')));
    const want = ['example-service-1', 'example-service-2', 'example-service-3'];
    const res = await readUntil(() => ctx.clients.getServices(), (r) => r.services.length >= want.length);
    assert.deepEqual([...res.services].sort(), want);
  });

  test('GetOperations(example-service-1, "") lists names with span kinds', async () => {
    await ctx.server.purge();
    await exportOk(ctx.clients, otlpJsonToProto(fixtureDoc('example_trace')));
    const want = [
      { name: 'example-operation-1', spanKind: '' },
      { name: 'example-operation-3', spanKind: 'server' },
      { name: 'example-operation-4', spanKind: 'client' },
    ];
    const res = await readUntil(() => ctx.clients.getOperations('example-service-1', ''), (r) => r.operations.length >= 3);
    const got = res.operations.map((o) => ({ name: o.name, spanKind: o.spanKind }))
      .sort((a, b) => a.name.localeCompare(b.name) || a.spanKind.localeCompare(b.spanKind));
    assert.deepEqual(got, want);
    // span_kind filter and unknown service
    const server = await ctx.clients.getOperations('example-service-1', 'server');
    assert.deepEqual(server.operations.map((o) => [o.name, o.spanKind]), [['example-operation-3', 'server']]);
    const none = await ctx.clients.getOperations('no-such-service', '');
    assert.deepEqual(none.operations, []);
  });

  test('GetTraces(example trace) returns all 5 spans, equal to the fixture', async () => {
    await ctx.server.purge();
    await exportOk(ctx.clients, otlpJsonToProto(fixtureDoc('example_trace')));
    const expected = expectedOf(['example_trace']);
    const messages = await readUntil(() => ctx.clients.getTraces([EXAMPLE_TRACE_ID]),
      (m) => assembleStream(m).spans.length >= 5);
    const r = assertStreamEquals(messages, expected, 'GetTraces example_trace');
    assert.equal(r.order.length, 1);
    assert.equal(r.spans.length, 5);
  });

  test('GetTraces with real start/end hints still returns the whole trace', async () => {
    await ctx.server.purge();
    await exportOk(ctx.clients, otlpJsonToProto(fixtureDoc('example_trace')));
    const expected = expectedOf(['example_trace']);
    const start = BigInt(expected[0].startTimeUnixNano);
    const messages = await readUntil(() => ctx.clients.getTraces([EXAMPLE_TRACE_ID], {
      startTime: timestampFromNanos(start - 1_000_000_000n), endTime: timestampFromNanos(start + 1_000_000_000n),
    }), (m) => assembleStream(m).spans.length >= 5);
    assertStreamEquals(messages, expected, 'GetTraces example_trace with hints');
  });

  test('GetTraces with an unknown id (00…01) is an empty stream with status OK', async () => {
    await ctx.server.purge();
    await exportOk(ctx.clients, otlpJsonToProto(fixtureDoc('example_trace')));
    const messages = await ctx.clients.getTraces(['00000000000000000000000000000001']);
    assert.equal(messages.length, 0);
    // known and unknown together: only the known one, in one or more consecutive chunks
    const both = await ctx.clients.getTraces(['00000000000000000000000000000001', EXAMPLE_TRACE_ID]);
    assertStreamEquals(both, expectedOf(['example_trace']), 'GetTraces unknown + known');
  });

  test('Capabilities: search without service name is declared', async () => {
    const res = await ctx.clients.getCapabilities();
    assert.equal(res.search?.withoutServiceName, true, JSON.stringify(res));
  });
});

describe('Jaeger conformance: large and duplicate-id traces', () => {
  const ctx = useServer();

  test('a 10,008-span trace comes back whole, in chunks under 4 MiB holding one trace each', async () => {
    await ctx.server.purge();
    const doc = largeTraceJson(fixtureDoc('example_trace'), 10008);
    for (const chunk of chunkDoc(doc, 1000)) await exportOk(ctx.clients, otlpJsonToProto(chunk), { deadlineMs: 120_000 });
    const expected = spansFromOtlpJson(doc);
    const messages = await readUntil(() => ctx.clients.getTraces([EXAMPLE_TRACE_ID], { deadlineMs: 120_000 }),
      (m) => assembleStream(m).spans.length >= 10008, { timeoutMs: 10_000, intervalMs: 500 });
    const r = assertStreamEquals(messages, expected, 'GetTraces 10,008 spans');
    assert.equal(r.order.length, 1);
    assert.equal(r.spans.length, 10008);
    assert.ok(r.maxWireSize < 4 * 1024 * 1024, `largest chunk ${r.maxWireSize} bytes`);
  });

  test('a 200-span trace with repeated span ids keeps every duplicate', async () => {
    await ctx.server.purge();
    const doc = largeTraceJson(fixtureDoc('example_trace'), 200, 20);
    // Jaeger's test writer sends 5 spans per request.
    for (const chunk of chunkDoc(doc, 5)) await exportOk(ctx.clients, otlpJsonToProto(chunk));
    const expected = spansFromOtlpJson(doc);
    const messages = await readUntil(() => ctx.clients.getTraces([EXAMPLE_TRACE_ID]),
      (m) => assembleStream(m).spans.length >= 200);
    const r = assertStreamEquals(messages, expected, 'GetTraces 200 spans with duplicates');
    assert.equal(r.spans.filter((s) => s.spanId === '0000000000000004').length, 10);
  });
});

describe('Jaeger conformance: search without service name, search depth', () => {
  const ctx = useServer();

  test('FindTraces with no service name finds the two rfc0013 traces by attribute alone', async () => {
    await ctx.server.purge();
    await exportOk(ctx.clients, otlpJsonToProto(fixtureDoc('example_trace'))); // must not match
    const now = BigInt(Date.now()) * 1_000_000n;
    const docs = [['cross-service-a', '0102030405060708090a0b0c0d0e0f10'], ['cross-service-b', '0202030405060708090a0b0c0d0e0f10']]
      .map(([service, traceId], i) => ({
        resourceSpans: [{
          resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
          scopeSpans: [{
            scope: {},
            spans: [{
              traceId, spanId: `000000000000000${i + 1}`, name: 'rfc0013-operation', kind: 2,
              startTimeUnixNano: (now - 60_000_000_000n + BigInt(i)).toString(),
              endTimeUnixNano: (now - 59_000_000_000n + BigInt(i)).toString(),
              attributes: [{ key: 'rfc0013.cross.service', value: { stringValue: 'yes' } }],
              status: {},
            }],
          }],
        }],
      }));
    for (const d of docs) await exportOk(ctx.clients, otlpJsonToProto(d));
    const params = {
      serviceName: '', operationName: '',
      attributes: [{ key: 'rfc0013.cross.service', value: { stringValue: 'yes' } }],
      startTimeMin: timestampFromNanos(now - 3_600_000_000_000n), startTimeMax: timestampFromNanos(now + 3_600_000_000_000n),
      durationMin: durationFromNanos(0), durationMax: durationFromNanos(0), searchDepth: 10,
    };
    const expected = docs.flatMap((d) => spansFromOtlpJson(d));
    await findTracesChecked(ctx.clients, params, expected, 'rfc0013 without service name');
    await findTraceIdsChecked(ctx.clients, params, traceIdsOf(expected), 'rfc0013 without service name (ids)');
    // unset (year 0001) time bounds: any time
    await findTracesChecked(ctx.clients, { ...params, startTimeMin: { ...ZERO_TIMESTAMP }, startTimeMax: { ...ZERO_TIMESTAMP } },
      expected, 'rfc0013 without service name, unset time bounds');
  });

  const multipleCase = QUERIES.find((q) => q.ExpectedFixtures.length === 3);

  test('search_depth 2 on the three "Multiple Traces" fixtures returns 2 of them, each whole', async () => {
    await ctx.server.purge();
    for (const n of multipleCase.ExpectedFixtures) await exportOk(ctx.clients, otlpJsonToProto(fixtureDoc(n)));
    const params = queryToParams({ ...multipleCase.Query, NumTraces: 2 });
    // All three start at the same instant, so any two are "the newest".
    await readUntil(() => ctx.clients.findTraces(queryToParams(multipleCase.Query)), (m) => assembleStream(m).order.length >= 3);
    const r = assembleStream(await ctx.clients.findTraces(params));
    assert.deepEqual(r.problems, []);
    assert.equal(r.order.length, 2, `got ${r.order.join(', ')}`);
    const all = expectedOf(multipleCase.ExpectedFixtures);
    assertSameTraces(all.filter((s) => r.order.includes(s.traceId)), r.spans, 'search_depth 2');
    const ids = foundTraceIds(await ctx.clients.findTraceIds(params));
    assert.deepEqual(ids.problems, []);
    assert.equal(ids.ids.length, 2);
  });

  test('search_depth 2 returns the 2 newest traces, newest first', async () => {
    await ctx.server.purge();
    // The same three fixtures, started 0, 60 and 120 s apart (still inside the case's window), written oldest first.
    const docs = multipleCase.ExpectedFixtures.map((n, i) => {
      const d = fixtureDoc(n);
      for (const s of d.resourceSpans[0].scopeSpans[0].spans) {
        const delta = BigInt(i) * 60_000_000_000n;
        s.startTimeUnixNano = (BigInt(s.startTimeUnixNano) + delta).toString();
        s.endTimeUnixNano = (BigInt(s.endTimeUnixNano) + delta).toString();
        for (const e of s.events ?? []) e.timeUnixNano = (BigInt(e.timeUnixNano) + delta).toString();
      }
      return d;
    });
    for (const d of docs) await exportOk(ctx.clients, otlpJsonToProto(d));
    const all = docs.flatMap((d) => spansFromOtlpJson(d));
    const ids = traceIdsOf(all); // …221, …222, …223 in start order
    await readUntil(() => ctx.clients.findTraces(queryToParams(multipleCase.Query)), (m) => assembleStream(m).order.length >= 3);
    const params = queryToParams({ ...multipleCase.Query, NumTraces: 2 });
    const r = assertStreamEquals(await ctx.clients.findTraces(params), all.filter((s) => s.traceId !== ids[0]),
      'search_depth 2 (distinct starts)');
    assert.deepEqual(r.order, [ids[2], ids[1]], 'newest first');
    const found = foundTraceIds(await ctx.clients.findTraceIds(params));
    assert.deepEqual([...found.ids].sort(), [ids[1], ids[2]]);
  });
});

describe('the check bites: a mutated expectation is reported against the real server', () => {
  const ctx = useServer();

  test('int→double attribute type change and a dropped span are both reported', async () => {
    await ctx.server.purge();
    await exportOk(ctx.clients, otlpJsonToProto(fixtureDoc('span_tags_trace')));
    await exportOk(ctx.clients, otlpJsonToProto(fixtureDoc('example_trace')));

    const q = QUERIES.find((x) => x.ExpectedFixtures.length === 1 && x.ExpectedFixtures[0] === 'span_tags_trace');
    const found = assembleStream(await readUntil(() => ctx.clients.findTraces(queryToParams(q.Query)),
      (m) => assembleStream(m).spans.length >= 1));
    const tagsExpected = expectedOf(['span_tags_trace']);
    assert.deepEqual(diffTraces(tagsExpected, found.spans), [], 'precondition: the unmutated fixture matches');
    const retyped = cloneSpans(tagsExpected);
    const attr = retyped[0].attributes.find((a) => a.key === 'sameplacetag2');
    assert.equal(attr.value.t, 'int');
    attr.value = { t: 'double', v: Number(attr.value.v) };
    const d1 = diffTraces(retyped, found.spans);
    assert.ok(d1.length > 0, 'int→double change not reported');
    assert.match(d1.join('\n'), /sameplacetag2\]: expected double\(123\), got int\(123\)/);

    const got = assembleStream(await readUntil(() => ctx.clients.getTraces([EXAMPLE_TRACE_ID]),
      (m) => assembleStream(m).spans.length >= 5));
    const exampleExpected = expectedOf(['example_trace']);
    assert.deepEqual(diffTraces(exampleExpected, got.spans), [], 'precondition: the unmutated fixture matches');
    const fewer = cloneSpans(exampleExpected).filter((s) => s.spanId !== '0000000000000006');
    const d2 = diffTraces(fewer, got.spans);
    assert.ok(d2.length > 0, 'dropped span not reported');
    assert.match(d2.join('\n'), /expected 4 span\(s\), got 5/);
    assert.match(d2.join('\n'), /span 0000000000000006 .*unexpected/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Reference behaviour (jaeger-api.md §5.2) that the fixture set does not pin down on its own.

const S = 1_000_000_000n;
const kv = (key, value) => ({ key, value });
const str = (v) => ({ stringValue: v });

/** One OTLP/JSON document: `spans` = [{service, scope?, spanId, parent?, name, kind?, start, end, attributes?, status?, events?}]. */
function doc(traceId, spans) {
  return {
    resourceSpans: spans.map((s) => ({
      resource: { attributes: [kv('service.name', str(s.service)), ...(s.resourceAttributes ?? [])] },
      scopeSpans: [{
        scope: s.scope ?? {},
        spans: [{
          traceId, spanId: s.spanId, parentSpanId: s.parent ?? '', name: s.name, kind: s.kind ?? 0,
          startTimeUnixNano: s.start.toString(), endTimeUnixNano: s.end.toString(),
          attributes: s.attributes ?? [], events: s.events ?? [], status: s.status ?? {},
        }],
      }],
    })),
  };
}

describe('Jaeger reference semantics beyond the fixture set', () => {
  const ctx = useServer();
  const t0 = BigInt(Date.now() - 600_000) * 1_000_000n; // ten minutes ago
  const TA = 'a1000000000000000000000000000001'; // same-span conjunction: tags split over two spans
  const TB = 'b2000000000000000000000000000002'; // everything on one span; error status; server kind; scope
  const TD = 'd4000000000000000000000000000004'; // dependencies hello → world → hello ×3
  const docs = {
    [TA]: doc(TA, [
      { service: 'sem-svc', spanId: '00000000000000a1', name: 'op-a', start: t0, end: t0 + 1000n, attributes: [kv('k1', str('v1'))] },
      { service: 'sem-svc', spanId: '00000000000000a2', parent: '00000000000000a1', name: 'op-a', start: t0 + 10n, end: t0 + 20n, attributes: [kv('k2', str('v2'))] },
    ]),
    [TB]: doc(TB, [
      { service: 'sem-svc', spanId: '00000000000000b1', name: 'op-b', kind: 2, start: t0 + S, end: t0 + S + 5000n,
        scope: { name: 'sem-lib', version: '2.0.0' },
        resourceAttributes: [kv('region', str('eu-west'))],
        attributes: [kv('k1', str('v1')), kv('k2', str('v2')), kv('num', { intValue: '123' }), kv('numstr', str('456')),
          kv('ratio', { doubleValue: 72.5 }), kv('flag', { boolValue: true }), kv('blob', { bytesValue: 'AAAwOQ==' })],
        status: { code: 2, message: 'failed' } },
    ]),
    [TD]: doc(TD, [
      { service: 'hello', spanId: '00000000000000d1', name: 'root', start: t0 + 2n * S, end: t0 + 2n * S + 100n },
      { service: 'world', spanId: '00000000000000d2', parent: '00000000000000d1', name: 'w', start: t0 + 2n * S + 1n, end: t0 + 2n * S + 90n },
      ...[3, 4, 5].map((i) => ({ service: 'hello', spanId: `00000000000000d${i}`, parent: '00000000000000d2', name: 'h', start: t0 + 2n * S + BigInt(i), end: t0 + 2n * S + 50n })),
    ]),
  };
  const expected = (id) => spansFromOtlpJson(docs[id]);
  const base = (extra = {}) => ({
    serviceName: 'sem-svc', operationName: '', attributes: [],
    startTimeMin: timestampFromNanos(t0 - 3600n * S), startTimeMax: timestampFromNanos(t0 + 3600n * S),
    durationMin: durationFromNanos(0), durationMax: durationFromNanos(0), searchDepth: 100, ...extra,
  });

  before(async () => {
    await ctx.server.purge();
    for (const d of Object.values(docs)) await exportOk(ctx.clients, otlpJsonToProto(d));
    await readUntil(() => ctx.clients.findTraceIds(base()), (r) => foundTraceIds(r).ids.length >= 2);
  }, { timeout: 60_000 });

  const cases = [
    ['same-span conjunction: tags on two different spans do not match', { attributes: [kv('k1', str('v1')), kv('k2', str('v2'))] }, [TB]],
    ['inclusive bounds: start_time_min = start_time_max = span start', {
      startTimeMin: timestampFromNanos(t0 + S), startTimeMax: timestampFromNanos(t0 + S), operationName: 'op-b' }, [TB]],
    ['inclusive bounds: duration_min = duration_max = span duration', {
      durationMin: durationFromNanos(5000), durationMax: durationFromNanos(5000) }, [TB]],
    ['just outside: start_time_min one ns after the start', {
      startTimeMin: timestampFromNanos(t0 + S + 1n), startTimeMax: timestampFromNanos(t0 + S + 1n) }, []],
    ['typed int query matches string attribute "456"', { attributes: [kv('numstr', { intValue: '456' })] }, [TB]],
    ['string query "123" matches int attribute', { attributes: [kv('num', str('123'))] }, [TB]],
    ['string query "72.5" matches double, "true" matches bool', { attributes: [kv('ratio', str('72.5')), kv('flag', str('true'))] }, [TB]],
    ['string query in base64 matches bytes attribute', { attributes: [kv('blob', str('AAAwOQ=='))] }, [TB]],
    ['int query 124 does not match 123', { attributes: [kv('num', { intValue: '124' })] }, []],
    ['error=true matches status ERROR only', { attributes: [kv('error', { boolValue: true })] }, [TB]],
    ['error="false" matches spans without ERROR', { attributes: [kv('error', str('false'))] }, [TA]],
    ['span.kind=server (case-insensitive)', { attributes: [kv('span.kind', str('SERVER'))] }, [TB]],
    ['span.status=ERROR', { attributes: [kv('span.status', str('error'))] }, [TB]],
    ['scope.name and scope.version', { attributes: [kv('scope.name', str('sem-lib')), kv('scope.version', str('2.0.0'))] }, [TB]],
    ['resource.region matches the resource attribute', { attributes: [kv('resource.region', str('eu-west'))] }, [TB]],
    ['resource.k1 does not match a span attribute', { attributes: [kv('resource.k1', str('v1'))] }, []],
    ['empty service name with an operation', { serviceName: '', operationName: 'op-a' }, [TA]],
  ];
  for (const [what, extra, ids] of cases) {
    test(`FindTraces: ${what}`, async () => {
      const params = base(extra);
      await findTracesChecked(ctx.clients, params, ids.flatMap(expected), what);
      await findTraceIdsChecked(ctx.clients, params, ids, `${what} (ids)`);
    });
  }

  test('GetDependencies counts parent→child service calls, self-edges included', async () => {
    const res = await ctx.clients.getDependencies(timestampFromNanos(t0 - 3600n * S), timestampFromNanos(t0 + 3600n * S));
    const sum = new Map();
    for (const d of res.dependencies) sum.set(`${d.parent}→${d.child}`, (sum.get(`${d.parent}→${d.child}`) ?? 0n) + BigInt(d.callCount));
    assert.deepEqual(Object.fromEntries([...sum].map(([k, v]) => [k, Number(v)])), { 'hello→world': 1, 'world→hello': 3, 'sem-svc→sem-svc': 1 });
    // a window that ends before the traces: nothing
    const early = await ctx.clients.getDependencies(timestampFromNanos(t0 - 7200n * S), timestampFromNanos(t0 - 3600n * S));
    assert.deepEqual(early.dependencies, []);
  });

  test('FindTraceSummaries: UNIMPLEMENTED, or summaries that add up (§2.7.4)', async () => {
    let msgs;
    try {
      msgs = await ctx.clients.findTraceSummaries(base({ serviceName: 'hello' }));
    } catch (err) {
      assert.equal(err.code, 12 /* UNIMPLEMENTED */, `unexpected status ${err.code}: ${err.details}`);
      assert.equal(err.messagesBeforeError.length, 0, 'UNIMPLEMENTED must come before any message');
      return;
    }
    const sums = msgs.flatMap((m) => m.summaries);
    assert.equal(sums.length, 1);
    const s = sums[0];
    assert.equal(Buffer.from(s.traceId).toString('hex'), TD);
    assert.equal(s.spanCount, 5);
    assert.equal(s.errorSpanCount, 0);
    assert.equal(s.orphanSpanCount, 0);
    assert.deepEqual([s.rootServiceName, s.rootOperationName], ['hello', 'root']);
    assert.equal(BigInt(s.minStartTimeUnixNano), t0 + 2n * S);
    assert.equal(BigInt(s.maxEndTimeUnixNano), t0 + 2n * S + 100n);
    assert.deepEqual(s.services.map((x) => [x.name, x.spanCount, x.errorSpanCount]), [['hello', 4, 0], ['world', 1, 0]]);
  });
});
