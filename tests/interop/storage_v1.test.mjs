// Jaeger Remote Storage API v1 (jaeger.storage.v1), what Jaeger 1.x and 2.0–2.5 call with `grpc` storage, driven
// through @grpc/grpc-js + @grpc/proto-loader with the project's own .proto files.
//   * every case of the Jaeger conformance set (tests/conformance/jaeger queries.json) through v1 FindTraces,
//     FindTraceIDs and GetTrace, with the spans written as OTLP/JSON, read from the head and from blocks, compared
//     with expectedJaegerSpans (lib/jaeger_expected.mjs: the standard OTLP → Jaeger mapping, written independently
//     of the server's converter);
//   * writes through WriteSpan and WriteSpanStream read back equal; strict ID lengths; NOT_FOUND for unknown traces;
//     chunking (≤ 1000 spans per chunk, one trace's spans contiguous); services, operations, dependencies,
//     capabilities. Semantics: docs/jaeger-semantics.md §3.1, §3.2, §5.3.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import grpc from '@grpc/grpc-js';
import { TbServer } from './lib/server.mjs';
import { grpcErrorDetails, retryDelayMsOf } from './lib/rpc_status.mjs';
import {
  fixturesOfQueries, largeTraceJson, loadQueries, makeDateShift, shiftedFixtureText, timestampFromNanos, storeFixtures
} from './lib/fixtures.mjs';
import { expectedJaegerSpans, normalizeJaegerSpans } from './lib/jaeger_expected.mjs';
import { V1Clients, assembleV1Stream, jaegerSpanToProto, queryToV1Params } from './lib/storage_v1.mjs';

const SHIFT = makeDateShift();
const QUERIES = loadQueries(SHIFT);
const QUERY_FIXTURES = fixturesOfQueries(QUERIES);
const EXAMPLE_TRACE_ID = '00000000000000000000000000000011';
const caseName = (i, q) => `${String(i + 1).padStart(2, '0')} ${q.Caption}`;

const fixtureText = (name) => shiftedFixtureText(name, SHIFT);
const expectedOf = (names) => names.flatMap((n) => expectedJaegerSpans(JSON.parse(fixtureText(n))));
const traceIdsOf = (spans) => [...new Set(spans.map((s) => s.traceId))].sort();

function assertSameSpans(actual, expected, context) {
  assert.deepEqual(normalizeJaegerSpans(actual), normalizeJaegerSpans(expected), context);
}

/** A FindTraces / GetTrace stream: the stream contract holds and the spans equal `expected`. */
function assertStream(messages, expected, context) {
  const r = assembleV1Stream(messages);
  assert.deepEqual(r.problems, [], `${context}: stream contract`);
  assert.deepEqual([...r.order].sort(), traceIdsOf(expected), `${context}: trace ids`);
  assertSameSpans(r.spans, expected, context);
  return r;
}

/** One server for the enclosing describe block, started with `extraArgs`. */
function useServer(extraArgs = []) {
  const ctx = {};
  before(async () => {
    ctx.server = await TbServer.start({ extraArgs });
    ctx.clients = new V1Clients(ctx.server.grpcAddress);
  });
  after(async () => {
    ctx.clients?.close();
    if (ctx.server) {
      try { await ctx.server.stop(); } finally { await ctx.server.dispose(); }
    }
  });
  return ctx;
}

for (const placement of ['head', 'blocks']) {
  describe(`v1 conformance: the Jaeger set through FindTraces / FindTraceIDs / GetTrace [${placement}]`, () => {
    const ctx = useServer();
    before(async () => {
      await storeFixtures(ctx.server, QUERY_FIXTURES, SHIFT, placement);
    }, { timeout: 120_000 });

    for (const [i, q] of QUERIES.entries()) {
      test(`FindTraces ${caseName(i, q)}`, async () => {
        const expected = expectedOf(q.ExpectedFixtures);
        assertStream(await ctx.clients.findTraces(queryToV1Params(q.Query)), expected, caseName(i, q));
      });
      test(`FindTraceIDs ${caseName(i, q)}`, async () => {
        const res = await ctx.clients.findTraceIds(queryToV1Params(q.Query));
        for (const id of res.traceIds) assert.equal(Buffer.from(id).length, 16, 'trace ids are 16 bytes');
        const got = res.traceIds.map((b) => Buffer.from(b).toString('hex')).sort();
        assert.deepEqual(got, traceIdsOf(expectedOf(q.ExpectedFixtures)), caseName(i, q));
      });
    }

    for (const name of QUERY_FIXTURES) {
      test(`GetTrace of every trace in ${name}`, async () => {
        const expected = expectedOf([name]);
        for (const id of traceIdsOf(expected)) {
          assertStream(await ctx.clients.getTrace(id), expected.filter((s) => s.traceId === id), `${name} ${id}`);
        }
      });
    }
  });
}

describe('v1 reads: not found, chunks, services, operations, dependencies, capabilities', () => {
  const ctx = useServer();

  test('GetTrace of an unknown trace is NOT_FOUND "trace not found", before any chunk', async () => {
    await assert.rejects(ctx.clients.getTrace('0123456789abcdef0123456789abcdef'), (err) => {
      assert.equal(err.code, 5 /* NOT_FOUND */);
      assert.match(err.details, /trace not found/);
      assert.equal(err.messagesBeforeError.length, 0);
      return true;
    });
  });

  test('GetTrace with a 3-byte trace id is INVALID_ARGUMENT', async () => {
    await assert.rejects(ctx.clients.getTrace('abcdef'), (err) => err.code === 3 && /16 bytes/.test(err.details));
  });

  test('a 10,008-span trace comes in chunks of at most 1000 spans, all of it, equal to the fixture', async () => {
    await ctx.server.purge();
    const doc = largeTraceJson(fixtureText('example_trace'), 10_008);
    await ctx.server.postJson(JSON.stringify(doc));
    const messages = await ctx.clients.getTrace(EXAMPLE_TRACE_ID);
    assert.ok(messages.length >= 11, `${messages.length} chunks`);
    const r = assertStream(messages, expectedJaegerSpans(doc), 'large trace');
    assert.equal(r.spans.length, 10_008);
  });

  test('FindTraces: traces newest first, each trace contiguous; num_traces limits', async () => {
    await ctx.server.purge();
    const multiple = QUERIES.find((q) => q.ExpectedFixtures.length === 3);
    const docs = multiple.ExpectedFixtures.map((n, i) => {
      const d = JSON.parse(fixtureText(n));
      for (const rs of d.resourceSpans) for (const ss of rs.scopeSpans) for (const s of ss.spans) {
        const delta = BigInt(i) * 60_000_000_000n;
        s.startTimeUnixNano = (BigInt(s.startTimeUnixNano) + delta).toString();
        s.endTimeUnixNano = (BigInt(s.endTimeUnixNano) + delta).toString();
        for (const e of s.events ?? []) e.timeUnixNano = (BigInt(e.timeUnixNano) + delta).toString();
      }
      return d;
    });
    for (const d of docs) await ctx.server.postJson(JSON.stringify(d));
    const ids = docs.map((d) => d.resourceSpans[0].scopeSpans[0].spans[0].traceId.toLowerCase());
    const all = assertStream(await ctx.clients.findTraces(queryToV1Params(multiple.Query)),
      docs.flatMap((d) => expectedJaegerSpans(d)), 'all three');
    assert.deepEqual(all.order, [...ids].reverse(), 'newest first');
    const two = assembleV1Stream(await ctx.clients.findTraces(queryToV1Params({ ...multiple.Query, NumTraces: 2 })));
    assert.deepEqual(two.order, [ids[2], ids[1]]);
  });

  test('GetServices and GetOperations (operations with kinds, and the deprecated names)', async () => {
    await ctx.server.purge();
    await ctx.server.postJson(fixtureText('example_trace'));
    const services = await ctx.clients.getServices();
    assert.deepEqual([...services.services].sort(), ['example-service-1', 'example-service-2', 'example-service-3']);
    const ops = await ctx.clients.getOperations('example-service-1');
    const got = ops.operations.map((o) => `${o.name}/${o.spanKind}`).sort();
    assert.deepEqual(got, ['example-operation-1/', 'example-operation-3/server', 'example-operation-4/client']);
    assert.deepEqual([...ops.operationNames].sort(), ['example-operation-1', 'example-operation-3', 'example-operation-4']);
    const server = await ctx.clients.getOperations('example-service-1', 'server');
    assert.deepEqual(server.operations.map((o) => o.name), ['example-operation-3']);
    assert.deepEqual((await ctx.clients.getOperations('no-such-service')).operations, []);
  });

  test('GetDependencies counts parent → child service calls in the window (spans written through WriteSpan)', async () => {
    await ctx.server.purge();
    const t0 = BigInt(Date.now() - 600_000) * 1_000_000n;
    const traceId = 'd4000000000000000000000000000004';
    const span = (spanId, service, parent, offset, refType = 'CHILD_OF') => ({
      traceId, spanId, operationName: `op-${spanId}`, flags: 0,
      references: parent ? [{ refType, traceId, spanId: parent }] : [],
      startTimeUnixNano: (t0 + offset).toString(), durationNanos: '1000', tags: [], logs: [],
      process: { serviceName: service, tags: [] }, warnings: [],
    });
    // hello → world → hello ×3; world → queue through a FOLLOWS_FROM reference (Jaeger's model takes it as the
    // parent when there is no CHILD_OF one); hello → hello is no edge (docs/jaeger-semantics.md §7).
    const spans = [span('00000000000000d1', 'hello', null, 0n), span('00000000000000d2', 'world', '00000000000000d1', 1n),
      ...[3, 4, 5].map((i) => span(`00000000000000d${i}`, 'hello', '00000000000000d2', BigInt(i))),
      span('00000000000000d6', 'queue', '00000000000000d2', 6n, 'FOLLOWS_FROM'),
      span('00000000000000d7', 'hello', '00000000000000d3', 7n)];
    for (const s of spans) await ctx.clients.writeSpan(jaegerSpanToProto(s));
    const hour = 3_600_000_000_000n;
    const res = await ctx.clients.getDependencies(timestampFromNanos(t0 - hour), timestampFromNanos(t0 + hour));
    const got = {};
    for (const d of res.dependencies) got[`${d.parent}→${d.child}`] = (got[`${d.parent}→${d.child}`] ?? 0) + Number(d.callCount);
    assert.deepEqual(got, { 'hello→world': 1, 'world→hello': 3, 'world→queue': 1 });
    const early = await ctx.clients.getDependencies(timestampFromNanos(t0 - 2n * hour), timestampFromNanos(t0 - hour));
    assert.deepEqual(early.dependencies, []);
    await assert.rejects(ctx.clients.getDependencies({ seconds: '-62135596800', nanos: 0 }, timestampFromNanos(t0)),
      (err) => err.code === 3 && /start_time/.test(err.details));
  });

  test('Capabilities: no streaming writer, no archive', async () => {
    // Jaeger writes through the streaming writer only when offered; its client cancels its streams with unread spans
    // in them, which are then lost (pinned by the next test), so unary WriteSpan is what Jaeger must use.
    const caps = await ctx.clients.capabilities();
    assert.deepEqual({ ...caps }, { archiveSpanReader: false, archiveSpanWriter: false, streamingSpanWriter: false });
  });

  test('a write stream cancelled before the server read its spans loses them (why the streaming writer is not offered)',
    async () => {
      // Jaeger's streaming writer sends spans on a pooled stream and never half-closes it; the stream's context ends
      // with the batch that opened it, which cancels the call. Emulated here: send every span (each write's callback
      // says it went to the transport, as Jaeger's Send returning does), then cancel at once. The spans reach the
      // server, but the cancellation comes before it has read them (0 or 1 of 20 stored in trials).
      const traceId = `c0ffee${Date.now().toString(16).padStart(26, '0')}`;
      const span = (i) => jaegerSpanToProto({
        traceId, spanId: (i + 1).toString(16).padStart(16, '0'), operationName: 'cancelled-stream', flags: 0, references: [],
        startTimeUnixNano: (BigInt(Date.now()) * 1_000_000n).toString(), durationNanos: '1000', tags: [], logs: [],
        process: { serviceName: 'cancelled-stream-svc', tags: [] }, warnings: [],
      });
      const call = ctx.clients.streamingWriter.WriteSpanStream(new grpc.Metadata(), () => {});
      await Promise.all(Array.from({ length: 20 }, (_, i) => new Promise((sent) => call.write({ span: span(i) }, sent))));
      call.cancel();
      await new Promise((resolve) => setTimeout(resolve, 300));
      const stored = await ctx.clients.getTrace(traceId).then((chunks) => assembleV1Stream(chunks).spans.length, (err) => {
        if (err.code !== 5 /* NOT_FOUND */) throw err;
        return 0;
      });
      assert.ok(stored < 20, `all 20 spans of a cancelled stream were stored: if gRPC now keeps them, the streaming writer could be offered again`);
    });

  test('health reports every v1 service SERVING', async () => {
    for (const service of ['SpanWriterPlugin', 'StreamingSpanWriterPlugin', 'SpanReaderPlugin', 'DependenciesReaderPlugin',
      'PluginCapabilities']) {
      const res = await ctx.clients.healthCheck(`jaeger.storage.v1.${service}`);
      assert.equal(res.status, 1 /* SERVING */, service);
    }
  });
});

describe('v1 writes: WriteSpan and WriteSpanStream read back equal', () => {
  const ctx = useServer();
  // Every span of the conformance fixtures, as Jaeger shapes, with the trace ids moved so the two write paths do not
  // meet: 'a…' for WriteSpan, 'b…' for WriteSpanStream.
  const reId = (spans, prefix) => spans.map((s) => ({
    ...structuredClone(s),
    traceId: prefix + s.traceId.slice(1),
    references: s.references.map((r) => ({ ...r, traceId: r.traceId === s.traceId ? prefix + r.traceId.slice(1) : r.traceId })),
  }));
  const source = expectedOf(QUERY_FIXTURES);

  before(() => ctx.server.purge());

  test('WriteSpan, one call per span, then GetTrace and FindTraces', async () => {
    const spans = reId(source, 'a');
    for (const s of spans) assert.deepEqual({ ...(await ctx.clients.writeSpan(jaegerSpanToProto(s))) }, {});
    for (const id of traceIdsOf(spans)) {
      assertStream(await ctx.clients.getTrace(id), spans.filter((s) => s.traceId === id), `WriteSpan ${id}`);
    }
    // also found by search, as Jaeger's query service reads it
    const first = spans[0];
    const found = assembleV1Stream(await ctx.clients.findTraces({
      serviceName: first.process.serviceName, operationName: first.operationName, tags: {},
      startTimeMin: timestampFromNanos(BigInt(first.startTimeUnixNano) - 1_000_000_000n),
      startTimeMax: timestampFromNanos(BigInt(first.startTimeUnixNano) + 1_000_000_000n),
      durationMin: { seconds: '0', nanos: 0 }, durationMax: { seconds: '0', nanos: 0 }, numTraces: 100,
    }));
    assert.ok(found.order.includes(first.traceId), 'written span found by FindTraces');
    assert.deepEqual({ ...(await ctx.clients.closeWriter()) }, {});
  });

  test('WriteSpanStream, all spans on one stream, then GetTrace', async () => {
    const spans = reId(source, 'b');
    await ctx.clients.writeSpanStream(spans.map(jaegerSpanToProto));
    for (const id of traceIdsOf(spans)) {
      assertStream(await ctx.clients.getTrace(id), spans.filter((s) => s.traceId === id), `WriteSpanStream ${id}`);
    }
  });

  test('a Jaeger-native span: 8-byte trace id; error, span.kind and derived tags are searchable the Jaeger way', async () => {
    const span = {
      traceId: '000000000000000000000000c0ffee01', spanId: '00000000000000c1', operationName: 'native-op', flags: 1,
      references: [], startTimeUnixNano: (BigInt(Date.now()) * 1_000_000n).toString(), durationNanos: '1500000',
      tags: [{ key: 'otel.scope.name', type: 'string', value: 'native-lib' }, { key: 'error', type: 'bool', value: true },
        { key: 'span.kind', type: 'string', value: 'server' }, { key: 'http.status_code', type: 'int64', value: '500' }],
      logs: [], process: { serviceName: 'native-svc', tags: [{ key: 'hostname', type: 'string', value: 'h1' }] }, warnings: [],
    };
    const pb = jaegerSpanToProto(span);
    pb.traceId = pb.traceId.subarray(8); // a 64-bit id, as old Jaeger clients send it
    await ctx.clients.writeSpan(pb);
    const got = assembleV1Stream(await ctx.clients.getTrace(span.traceId));
    assert.deepEqual(got.problems, []);
    assert.equal(got.spans.length, 1);
    const tags = Object.fromEntries(got.spans[0].tags.map((t) => [t.key, t.value]));
    assert.deepEqual(tags, {
      'otel.scope.name': 'native-lib', error: true, 'span.kind': 'server', 'http.status_code': '500', 'otel.status_code': 'ERROR',
    });
    const start = BigInt(span.startTimeUnixNano);
    const query = (tags) => ({
      serviceName: 'native-svc', operationName: '', tags,
      startTimeMin: timestampFromNanos(start - 1_000_000_000n), startTimeMax: timestampFromNanos(start + 1_000_000_000n),
      durationMin: { seconds: '0', nanos: 0 }, durationMax: { seconds: '0', nanos: 0 }, numTraces: 10,
    });
    const ids = async (tags) => (await ctx.clients.findTraceIds(query(tags))).traceIds.map((b) => Buffer.from(b).toString('hex'));
    assert.deepEqual(await ids({ error: 'true', 'span.kind': 'server', 'http.status_code': '500', hostname: 'h1' }), [span.traceId]);
    assert.deepEqual(await ids({ 'span.kind': 'client' }), []);
    // Tags the mapping derives from OTLP fields find the span too, as they would in a v1-model store.
    assert.deepEqual(await ids({ 'otel.status_code': 'ERROR', 'otel.scope.name': 'native-lib' }), [span.traceId]);
    assert.deepEqual(await ids({ 'otel.status_code': 'OK' }), []);
  });

  test('bad spans are INVALID_ARGUMENT naming the field; a stream stops at the first bad span', async () => {
    const [before, after] = [reId(source, 'c')[0], reId(source, 'e')[0]];
    const good = jaegerSpanToProto(before);
    const cases = [
      [{ ...good, traceId: Buffer.from('abc') }, /trace_id must be 16 or 8 bytes; got 3/],
      [{ ...good, spanId: Buffer.alloc(0) }, /span_id must be 8 bytes; got 0/],
      [{ ...good, traceId: Buffer.alloc(16) }, /trace_id must not be all zero/],
      [{ ...good, references: [{ traceId: Buffer.alloc(16, 1), spanId: Buffer.from('x'), refType: 0 }] }, /reference span_id/],
      [{ ...good, startTime: { seconds: '-5', nanos: 0 } }, /start_time/],
    ];
    for (const [span, message] of cases) {
      await assert.rejects(ctx.clients.writeSpan(span), (err) => {
        assert.equal(err.code, 3, err.details);
        assert.match(err.details, message);
        return true;
      });
    }
    // The span before the bad one is durable and stored; the one after it is never read.
    await assert.rejects(ctx.clients.writeSpanStream([good, cases[0][0], jaegerSpanToProto(after)]),
      (err) => err.code === 3 && /trace_id/.test(err.details));
    assertStream(await ctx.clients.getTrace(before.traceId), [before], 'span before the bad one');
    await assert.rejects(ctx.clients.getTrace(after.traceId), (err) => err.code === 5);
  });
});

describe('v1 writes meet the same back-pressure as OTLP', () => {
  const ctx = useServer(['--head-memory-budget', '2MiB', '--no-background-flush']);

  const floodSpan = (i) => ({
    traceId: `f100${i.toString(16).padStart(28, '0')}`, spanId: '00000000000000f1', operationName: 'flood', flags: 0,
    references: [], startTimeUnixNano: (BigInt(Date.now()) * 1_000_000n).toString(), durationNanos: '1000',
    tags: [{ key: 'payload', type: 'string', value: 'x'.repeat(2000) }], logs: [],
    process: { serviceName: 'flood-svc', tags: [] }, warnings: [],
  });

  test('WriteSpan gets RESOURCE_EXHAUSTED when the head is full; every acknowledged span is readable; a flush makes room',
    async () => {
      const acknowledged = [];
      let refused;
      for (let i = 0; i < 20_000 && !refused; i++) {
        const span = floodSpan(i);
        try {
          await ctx.clients.writeSpan(jaegerSpanToProto(span));
          acknowledged.push(span);
        } catch (err) {
          refused = err;
        }
      }
      assert.ok(refused, 'no back-pressure within 20,000 spans of 2 kB on a 2 MiB head');
      assert.equal(refused.code, 8 /* RESOURCE_EXHAUSTED */, refused.details);
      assert.ok(acknowledged.length > 100, `${acknowledged.length} spans acknowledged before the head was full`);
      // A retry delay in the status details tells the writer to come back later (as on the OTLP door).
      assert.equal(retryDelayMsOf(grpcErrorDetails(refused)), 1000, 'WriteSpan refusal without RetryInfo');
      // The streaming writer refuses too, ending its stream with the same status.
      await assert.rejects(ctx.clients.writeSpanStream([jaegerSpanToProto(floodSpan(50_000))]),
        (err) => err.code === 8 && retryDelayMsOf(grpcErrorDetails(err)) === 1000);
      for (const span of [acknowledged[0], acknowledged[acknowledged.length - 1]]) {
        assertStream(await ctx.clients.getTrace(span.traceId), [span], 'acknowledged span');
      }
      const ids = await ctx.clients.findTraceIds({
        serviceName: 'flood-svc', operationName: 'flood', tags: {}, startTimeMin: { seconds: '-62135596800', nanos: 0 },
        startTimeMax: { seconds: '-62135596800', nanos: 0 }, durationMin: { seconds: '0', nanos: 0 },
        // A 2 MiB head holds about a thousand 2 kB spans: the default limits.max_search_depth (10,000) reaches them all.
        durationMax: { seconds: '0', nanos: 0 }, numTraces: 10_000,
      });
      assert.ok(acknowledged.length < 10_000, `${acknowledged.length} spans acknowledged: more than one search returns`);
      assert.equal(ids.traceIds.length, acknowledged.length, 'every acknowledged span, and nothing refused, is stored');
      await ctx.server.flush();
      await ctx.clients.writeSpan(jaegerSpanToProto(floodSpan(60_000)));
    });
});
