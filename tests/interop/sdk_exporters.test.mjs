// Realistic workloads through the OpenTelemetry JS SDK's own OTLP exporters (gRPC, HTTP/protobuf, HTTP/JSON, and
// the HTTP ones gzip-compressed), read back with grpc-js over jaeger.storage.v2 and compared, field by field, with
// what the SDK produced (captured by an in-memory exporter on the same provider). Plus bad-input handling.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import grpc from '@grpc/grpc-js';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { TbServer } from './lib/server.mjs';
import { TbClients, assembleStream } from './lib/clients.mjs';
import { diffTraces } from './lib/canonical.mjs';
import { durationFromNanos, makeDateShift, otlpJsonToProto, shiftedFixtureText, timestampFromNanos } from './lib/fixtures.mjs';
import { encodeMessage } from './lib/proto.mjs';
import { spansFromOtlpJson } from './lib/canonical.mjs';
import { assertStreamEquals, completeOrWrong, readUntil, traceIdsOf } from './lib/checks.mjs';
import { makeProvider, runWorkload, spansFromSdk } from './lib/sdk.mjs';

const EXPORTERS = [
  { name: 'OTLP gRPC', make: (s) => new GrpcExporter({ url: `http://${s.grpcAddress}`, timeoutMillis: 20_000 }) },
  { name: 'OTLP HTTP protobuf', make: (s) => new ProtoExporter({ url: `${s.httpBase}/v1/traces`, timeoutMillis: 20_000 }) },
  { name: 'OTLP HTTP JSON', make: (s) => new JsonExporter({ url: `${s.httpBase}/v1/traces`, timeoutMillis: 20_000 }) },
  { name: 'OTLP HTTP protobuf, gzip', make: (s) => new ProtoExporter({ url: `${s.httpBase}/v1/traces`, compression: 'gzip', timeoutMillis: 20_000 }) },
  { name: 'OTLP HTTP JSON, gzip', make: (s) => new JsonExporter({ url: `${s.httpBase}/v1/traces`, compression: 'gzip', timeoutMillis: 20_000 }) },
];

function useServer(extraArgs = []) {
  const ctx = {};
  before(async () => {
    ctx.server = await TbServer.start({ extraArgs });
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

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

function searchParams(service, attributes = [], extra = {}) {
  const now = nowNs();
  return {
    serviceName: service,
    operationName: '',
    attributes,
    startTimeMin: timestampFromNanos(now - 3_600_000_000_000n),
    startTimeMax: timestampFromNanos(now + 3_600_000_000_000n),
    durationMin: durationFromNanos(0),
    durationMax: durationFromNanos(0),
    searchDepth: 1000,
    ...extra,
  };
}

for (const [n, exp] of EXPORTERS.entries()) {
  describe(`SDK → ${exp.name} → tracebucket → grpc-js`, () => {
    const ctx = useServer();
    const service = `shop-frontend-${n}`;
    const run = {};

    before(async () => {
      const { provider, recording, memory } = makeProvider(exp.make(ctx.server), {
        'service.name': service,
        'service.version': '1.4.2',
        'deployment.environment.name': 'interop',
        'host.cpu.count': 2,
      });
      const tracer = provider.getTracer('shop-instrumentation', '0.9.1');
      run.workload = runWorkload(tracer, { requests: 20, errorEvery: 5 });
      await provider.forceFlush();
      run.expected = spansFromSdk(memory.getFinishedSpans()); // before shutdown, which empties the memory exporter
      await provider.shutdown();
      run.recording = recording;
    }, { timeout: 120_000 });

    test('every export succeeded', () => {
      assert.deepEqual(run.recording.failures().map((f) => `${f.spans} spans: ${f.error?.message ?? f.code}`), []);
      assert.equal(run.recording.exportedSpans, run.expected.length);
    });

    test('FindTraces by service returns every trace, equal to what the SDK produced', async () => {
      const want = traceIdsOf(run.expected);
      assert.equal(want.length, 40);
      const msgs = await readUntil(() => ctx.clients.findTraces(searchParams(service)),
        (m) => completeOrWrong([...assembleStream(m).spansByTrace.keys()], want));
      assertStreamEquals(msgs, run.expected, `${exp.name} FindTraces(service)`);
    });

    test('GetTraces(checkout trace): parents, kinds, typed attributes, events, links, status', async () => {
      const id = run.workload.checkoutTraceId;
      const expected = run.expected.filter((s) => s.traceId === id);
      const msgs = await readUntil(() => ctx.clients.getTraces([id]), (m) => assembleStream(m).spans.length >= expected.length);
      const r = assertStreamEquals(msgs, expected, `${exp.name} GetTraces`);
      const byName = Object.fromEntries(r.spans.map((s) => [s.name, s]));
      const root = byName['GET /checkout'];
      const db = byName['SELECT orders'];
      const publish = byName['orders publish'];
      const ser = byName.serialize;
      assert.ok(root && db && publish && ser, `spans: ${Object.keys(byName).join(', ')}`);
      // parents and kinds
      assert.equal(root.parentSpanId, '');
      assert.equal(db.parentSpanId, root.spanId);
      assert.equal(publish.parentSpanId, root.spanId);
      assert.equal(ser.parentSpanId, publish.spanId);
      assert.deepEqual([root.kind, db.kind, publish.kind, ser.kind], [2, 3, 4, 1]); // server, client, producer, internal
      // typed attributes
      const a = (span, key) => span.attributes.find((x) => x.key === key)?.value;
      assert.deepEqual(a(root, 'http.response.status_code'), { t: 'int', v: '200' });
      assert.deepEqual(a(root, 'request.sampled_ratio'), { t: 'double', v: 0.25 });
      assert.deepEqual(a(root, 'user.premium'), { t: 'bool', v: true });
      assert.deepEqual(a(root, 'http.route'), { t: 'string', v: '/checkout' });
      assert.deepEqual(a(root, 'request.tags'), { t: 'array', v: [{ t: 'string', v: 'web' }, { t: 'string', v: 'shard-0' }] });
      assert.deepEqual(a(db, 'db.latency_ratio'), { t: 'double', v: 1.5 });
      // resource and scope
      assert.deepEqual(root.resource.attributes.find((x) => x.key === 'host.cpu.count')?.value, { t: 'int', v: '2' });
      assert.deepEqual(root.resource.attributes.find((x) => x.key === 'service.name')?.value, { t: 'string', v: service });
      assert.deepEqual([root.scope.name, root.scope.version], ['shop-instrumentation', '0.9.1']);
      // events and links
      assert.deepEqual(db.events.map((e) => e.name), ['query.sent', 'rows.received']);
      assert.deepEqual(db.events[0].attributes.find((x) => x.key === 'db.statement.length')?.value, { t: 'int', v: '120' });
      assert.equal(publish.links.length, 1);
      assert.deepEqual([publish.links[0].traceId, publish.links[0].spanId], [db.traceId, db.spanId]);
      assert.deepEqual(publish.links[0].attributes.find((x) => x.key === 'link.weight')?.value, { t: 'int', v: '2' });
      // status
      assert.deepEqual(ser.status, { code: 1, message: '' });
    });

    test('an error trace keeps status ERROR with its message and the exception event', async () => {
      const id = run.workload.errorTraceIds[0];
      const expected = run.expected.filter((s) => s.traceId === id);
      const msgs = await readUntil(() => ctx.clients.getTraces([id]), (m) => assembleStream(m).spans.length >= expected.length);
      const r = assertStreamEquals(msgs, expected, `${exp.name} GetTraces(error trace)`);
      const ser = r.spans.find((s) => s.name === 'serialize');
      assert.equal(ser.status.code, 2);
      assert.match(ser.status.message, /^serialization failed for request \d+$/);
      const ev = ser.events.find((e) => e.name === 'exception');
      assert.ok(ev, 'exception event');
      assert.deepEqual(ev.attributes.find((x) => x.key === 'exception.type')?.value, { t: 'string', v: 'SerializationError' });
    });

    test('span and link flags round-trip (W3C trace flags + OTLP is-remote bits)', async () => {
      const id = run.workload.checkoutTraceId;
      const expected = run.expected.filter((s) => s.traceId === id);
      const r = assembleStream(await ctx.clients.getTraces([id]));
      assert.deepEqual(diffTraces(expected, r.spans, { compareFlags: true }), []);
    });

    test('FindTraces by service + typed tags (span int, resource string, event int, link int)', async () => {
      const cases = [
        ['http.response.status_code int 500', [{ key: 'http.response.status_code', value: { intValue: '500' } }], run.workload.errorTraceIds],
        ['http.response.status_code as string "500"', [{ key: 'http.response.status_code', value: { stringValue: '500' } }], run.workload.errorTraceIds],
        ['resource deployment.environment.name + span route', [
          { key: 'deployment.environment.name', value: { stringValue: 'interop' } },
          { key: 'http.route', value: { stringValue: '/checkout' } }], [run.workload.checkoutTraceId]],
        ['event attribute db.statement.length 120 (every request)', [{ key: 'db.statement.length', value: { intValue: '120' } }],
          traceIdsOf(run.expected.filter((s) => s.name === 'SELECT orders'))],
        ['link attribute link.weight 2', [{ key: 'link.weight', value: { intValue: '2' } }],
          traceIdsOf(run.expected.filter((s) => s.name === 'orders publish'))],
        ['double 0.25', [{ key: 'request.sampled_ratio', value: { doubleValue: 0.25 } }],
          traceIdsOf(run.expected.filter((s) => s.kind === 2))],
        ['bool false on a different span than the route: no same-span match', [
          { key: 'db.cached', value: { boolValue: false } }, { key: 'http.route', value: { stringValue: '/checkout' } }], []],
        ['error=true', [{ key: 'error', value: { boolValue: true } }], run.workload.errorTraceIds],
      ];
      for (const [what, attributes, wantIds] of cases) {
        const expected = run.expected.filter((s) => wantIds.includes(s.traceId));
        const msgs = await readUntil(() => ctx.clients.findTraces(searchParams(service, attributes)),
          (m) => completeOrWrong([...assembleStream(m).spansByTrace.keys()], [...new Set(wantIds)]));
        assertStreamEquals(msgs, expected, `${exp.name} FindTraces ${what}`);
      }
    });

    test('GetOperations lists the workload operations with kinds', async () => {
      const res = await ctx.clients.getOperations(service, '');
      const got = res.operations.map((o) => `${o.name}|${o.spanKind}`).sort();
      assert.deepEqual(got, ['GET /checkout|server', 'GET /items/0|server', 'GET /items/1|server', 'GET /items/2|server',
        'SELECT orders|client', 'orders process|consumer', 'orders publish|producer', 'serialize|internal']);
    });
  });
}

describe('bad input and OTLP/HTTP details', () => {
  const ctx = useServer();

  const span = (traceId) => ({
    resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'bad-input' } }] },
      scopeSpans: [{ scope: {}, spans: [{ traceId, spanId: Buffer.from('0000000000000001', 'hex'), name: 'x',
        startTimeUnixNano: (nowNs() - 1000n).toString(), endTimeUnixNano: nowNs().toString() }] }],
    }],
  });

  test('gRPC Export with a 3-byte trace id → INVALID_ARGUMENT with a message', async () => {
    await assert.rejects(ctx.clients.export(span(Buffer.from('abcdef', 'hex'))), (err) => {
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT, `got ${err.code} ${err.details}`);
      assert.ok(err.details && err.details.length > 0, 'status message');
      return true;
    });
    // nothing of it was stored, and the server still works
    const res = await ctx.clients.getServices();
    assert.ok(!res.services.includes('bad-input'), `services: ${res.services.join(', ')}`);
    await ctx.clients.export(span(Buffer.alloc(16, 7)));
    const ok = await readUntil(() => ctx.clients.getServices(), (r) => r.services.includes('bad-input'));
    assert.ok(ok.services.includes('bad-input'));
  });

  test('HTTP: malformed JSON → 400 with a message', async () => {
    const r = await ctx.server.postTraces('{"resourceSpans": [', { contentType: 'application/json' });
    assert.equal(r.status, 400);
    assert.ok(r.body.length > 0, 'a message in the body');
  });

  test('HTTP: JSON with a 3-byte trace id → 400', async () => {
    const body = JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'abcdef', spanId: '0000000000000001', name: 'x' }] }] }] });
    const r = await ctx.server.postTraces(body, { contentType: 'application/json' });
    assert.equal(r.status, 400);
    assert.ok(r.body.length > 0, 'a message in the body');
  });

  test('HTTP: Content-Encoding gzip with a body that is not gzip → 400', async () => {
    const r = await ctx.server.postTraces(Buffer.from('this is not gzip at all'), {
      contentType: 'application/json', headers: { 'content-encoding': 'gzip' },
    });
    assert.equal(r.status, 400);
    const r2 = await ctx.server.postTraces(zlib.gzipSync('{"resourceSpans":[]}').subarray(0, 12), {
      contentType: 'application/x-protobuf', headers: { 'content-encoding': 'gzip' },
    });
    assert.equal(r2.status, 400, 'truncated gzip');
  });

  test('HTTP: protobuf that does not parse → 400', async () => {
    const r = await ctx.server.postTraces(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]), { contentType: 'application/x-protobuf' });
    assert.equal(r.status, 400);
  });

  test('HTTP: a valid gzip-compressed OTLP/JSON body is accepted', async () => {
    const now = nowNs();
    const body = JSON.stringify({ resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'gzip-json' } }] },
      scopeSpans: [{ scope: {}, spans: [{ traceId: '5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a', spanId: '0000000000000001', name: 'gz',
        startTimeUnixNano: String(now - 1000n), endTimeUnixNano: String(now) }] }] }] });
    const r = await ctx.server.postTraces(zlib.gzipSync(body), { contentType: 'application/json', headers: { 'content-encoding': 'gzip' } });
    assert.equal(r.status, 200, r.body.toString());
    const msgs = await readUntil(() => ctx.clients.getTraces(['5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a']), (m) => m.length > 0);
    assert.equal(assembleStream(msgs).spans.length, 1);
  });

  test('HTTP: responses carry the request\'s content type (OTLP/HTTP) and hand-encoded protobuf round-trips', async () => {
    const shift = makeDateShift();
    const text = shiftedFixtureText('example_trace', shift);
    const r = await ctx.server.postTraces(text, { contentType: 'application/json' });
    assert.equal(r.status, 200, r.body.toString());
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(typeof JSON.parse(r.body.toString() || 'null'), 'object', 'JSON ExportTraceServiceResponse body');
    await ctx.server.purge();
    const bytes = encodeMessage('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest', otlpJsonToProto(text));
    const p = await ctx.server.postTraces(bytes, { contentType: 'application/x-protobuf' });
    assert.equal(p.status, 200, p.body.toString());
    assert.match(p.headers.get('content-type') ?? '', /^application\/x-protobuf/);
    const msgs = await readUntil(() => ctx.clients.getTraces(['00000000000000000000000000000011']), (m) => assembleStream(m).spans.length >= 5);
    assertStreamEquals(msgs, spansFromOtlpJson(text), 'example_trace via hand-encoded OTLP/HTTP protobuf');
  });
});

// The request-size limit holds however an OTLP/HTTP body arrives: by Content-Length, chunked,
// or gzip-compressed far below the limit but larger once decoded. Nothing of a refused body is stored.
describe('OTLP/HTTP: --max-request-size holds for chunked and compressed bodies', () => {
  const LIMIT = 256 * 1024;
  const ctx = useServer(['--max-request-size', String(LIMIT)]);
  const TRACE = '7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e';
  // A valid OTLP/JSON document of about `bytes` bytes: the padding is a long attribute value.
  const doc = (bytes) => JSON.stringify({ resourceSpans: [{
    resource: { attributes: [{ key: 'service.name', value: { stringValue: 'size-limit' } }] },
    scopeSpans: [{ scope: {}, spans: [{ traceId: TRACE, spanId: '0000000000000001', name: 'padded',
      startTimeUnixNano: String(nowNs() - 1000n), endTimeUnixNano: String(nowNs()),
      attributes: [{ key: 'padding', value: { stringValue: 'x'.repeat(bytes) } }] }] }] }] });
  const post = async (body, headers = {}) => {
    const res = await fetch(`${ctx.server.httpBase}/v1/traces`, { method: 'POST', body, duplex: 'half',
      headers: { 'content-type': 'application/json', ...headers }, signal: AbortSignal.timeout(30_000) });
    return { status: res.status, text: await res.text() };
  };
  const tooLarge = { code: 3, message: `request body exceeds limits.max_request_size (${LIMIT} bytes)` };

  test('over the limit → 413 with the limit named, by Content-Length, chunked and gzip', async () => {
    const big = doc(2 * LIMIT);
    const byLength = await post(big);
    assert.equal(byLength.status, 413, byLength.text);
    assert.deepEqual(JSON.parse(byLength.text), tooLarge);
    const parts = [big.slice(0, LIMIT / 2), big.slice(LIMIT / 2, LIMIT), big.slice(LIMIT)];
    const chunked = await post(new ReadableStream({
      pull(c) { if (parts.length) c.enqueue(new TextEncoder().encode(parts.shift())); else c.close(); } }));
    assert.equal(chunked.status, 413, chunked.text);
    assert.deepEqual(JSON.parse(chunked.text), tooLarge);
    const gz = zlib.gzipSync(big);
    assert.ok(gz.length < LIMIT / 10, `compressed: ${gz.length} bytes`);
    const gzipped = await post(gz, { 'content-encoding': 'gzip' });
    assert.equal(gzipped.status, 413, gzipped.text);
    assert.deepEqual(JSON.parse(gzipped.text), tooLarge);
    const res = await ctx.clients.getServices();
    assert.ok(!res.services.includes('size-limit'), 'nothing of a refused body is stored');
  });

  test('within the limit, chunked and gzip bodies are accepted', async () => {
    const small = doc(LIMIT / 2);
    const parts = [small.slice(0, 1000), small.slice(1000)];
    const chunked = await post(new ReadableStream({
      pull(c) { if (parts.length) c.enqueue(new TextEncoder().encode(parts.shift())); else c.close(); } }));
    assert.equal(chunked.status, 200, chunked.text);
    assert.equal((await post(zlib.gzipSync(small), { 'content-encoding': 'gzip' })).status, 200);
    const msgs = await readUntil(() => ctx.clients.getTraces([TRACE]), (m) => m.length > 0);
    assert.equal(assembleStream(msgs).spans.length, 2);
  });
});
