// The Jaeger query service's internal JSON API (/api, Jaeger v2.20; docs/jaeger-semantics.md §6.2), what Grafana's Jaeger data
// source and older Jaeger UIs call, driven with Node's fetch:
//   * every case of the Jaeger conformance set (tests/conformance/jaeger queries.json) through GET /api/traces
//     search, and every trace of its fixtures through GET /api/traces/{id} and /api/traces?traceID=, read from the
//     head and from blocks; the UI JSON is checked for its own rules (16/32-hex trace ids, processes map, [] vs null)
//     and, converted to the plain Jaeger span shape, compared at µs precision with expectedJaegerSpans
//     (lib/jaeger_expected.mjs, the standard OTLP → Jaeger mapping written independently of the server);
//   * services, operations, dependencies; the parameter shapes Grafana sends (tags JSON from its logfmt input,
//     lookback=custom, limit, Go durations); a 10,008-span trace; 400s and 404s with Jaeger's envelope; and a check
//     that the comparison reports mutated answers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TbServer } from './lib/server.mjs';
import {
  fixturesOfQueries, largeTraceJson, loadQueries, makeDateShift, parseRfc3339, shiftedFixtureText, storeFixtures
} from './lib/fixtures.mjs';
import { atMicrosecondPrecision, expectedJaegerSpans, normalizeJaegerSpans } from './lib/jaeger_expected.mjs';

const SHIFT = makeDateShift();
const QUERIES = loadQueries(SHIFT);
const QUERY_FIXTURES = fixturesOfQueries(QUERIES);
const caseName = (i, q) => `${String(i + 1).padStart(2, '0')} ${q.Caption}`;

const fixtureText = (name) => shiftedFixtureText(name, SHIFT);
const expectedOf = (names) => atMicrosecondPrecision(names.flatMap((n) => expectedJaegerSpans(JSON.parse(fixtureText(n)))));
const traceIdsOf = (spans) => [...new Set(spans.map((s) => s.traceId))].sort();

// ---------------------------------------------------------------------------------------------------------------
// UI JSON → the plain Jaeger span shape of lib/jaeger_expected.mjs

/** The UI's trace id rule: 16 hex digits when the high 64 bits are zero, else 32. */
function checkUiTraceId(id, where, problems) {
  if (!/^[0-9a-f]{16}$|^[0-9a-f]{32}$/.test(id)) problems.push(`${where}: traceID ${JSON.stringify(id)}`);
  else if (id.length === 32 && id.startsWith('0000000000000000')) problems.push(`${where}: ${id} should be 16 digits`);
}

/** Problems of one UI trace with the model's own rules (docs/jaeger-semantics.md §6.3). */
function uiTraceProblems(trace) {
  const problems = [];
  checkUiTraceId(trace.traceID, 'trace', problems);
  if (trace.warnings !== null && !Array.isArray(trace.warnings)) problems.push('trace warnings neither null nor a list');
  const used = new Set();
  for (const s of trace.spans) {
    const where = `span ${s.spanID}`;
    if (s.traceID !== trace.traceID) problems.push(`${where}: traceID ${s.traceID} in trace ${trace.traceID}`);
    if (!/^[0-9a-f]{16}$/.test(s.spanID)) problems.push(`${where}: spanID`);
    for (const f of ['references', 'tags', 'logs']) if (!Array.isArray(s[f])) problems.push(`${where}: ${f} is not a list`);
    if (s.warnings !== null && !(Array.isArray(s.warnings) && s.warnings.length)) problems.push(`${where}: warnings not null or non-empty`);
    if (!Number.isSafeInteger(s.startTime) || !Number.isSafeInteger(s.duration)) problems.push(`${where}: times not integers`);
    if (!(s.processID in trace.processes)) problems.push(`${where}: processID ${s.processID} not in processes`);
    if ('process' in s) problems.push(`${where}: inline process`);
    for (const r of s.references) checkUiTraceId(r.traceID, `${where} reference`, problems);
    used.add(s.processID);
  }
  const keys = Object.keys(trace.processes);
  if (keys.some((k, i) => k !== `p${i + 1}`)) problems.push(`process ids ${keys} are not p1..pN`);
  if (used.size !== keys.length) problems.push('unused processes');
  const distinct = new Set(keys.map((k) => JSON.stringify(trace.processes[k])));
  if (distinct.size !== keys.length) problems.push('equal processes under two ids');
  return problems;
}

const micros = (us) => (BigInt(us) * 1000n).toString();
const fullId = (id) => id.padStart(32, '0');

function tagFromUi(t) {
  if (t.type === 'int64') return { key: t.key, type: t.type, value: String(t.value) };
  return { key: t.key, type: t.type, value: t.value };
}

function spansFromUiTrace(trace) {
  return trace.spans.map((s) => {
    const p = trace.processes[s.processID];
    return {
      traceId: fullId(s.traceID),
      spanId: s.spanID,
      operationName: s.operationName,
      flags: s.flags ?? 0,
      references: s.references.map((r) => ({ refType: r.refType, traceId: fullId(r.traceID), spanId: r.spanID })),
      startTimeUnixNano: micros(s.startTime),
      durationNanos: micros(s.duration),
      tags: s.tags.map(tagFromUi),
      logs: s.logs.map((l) => ({ timestampUnixNano: micros(l.timestamp), fields: l.fields.map(tagFromUi) })),
      process: { serviceName: p.serviceName, tags: p.tags.map(tagFromUi) },
      warnings: s.warnings ?? [],
    };
  });
}

/** The traces of a 200 envelope: each one checked, then flattened to plain spans. */
function spansOfTraces(traces, context) {
  for (const t of traces) assert.deepEqual(uiTraceProblems(t), [], `${context}: UI JSON of ${t.traceID}`);
  return traces.flatMap(spansFromUiTrace);
}

function assertSameSpans(actual, expected, context) {
  assert.deepEqual(normalizeJaegerSpans(actual), normalizeJaegerSpans(expected), context);
}

// ---------------------------------------------------------------------------------------------------------------
// Requests

async function get(server, path, params = []) {
  const url = new URL(path, server.httpBase);
  for (const [k, v] of params) url.searchParams.append(k, v);
  const res = await fetch(url);
  const text = await res.text();
  let body;
  try { body = JSON.parse(text); } catch { body = undefined; }
  return { status: res.status, type: res.headers.get('content-type'), text, body };
}

/** A 200 with Jaeger's envelope; returns it. */
async function getData(server, path, params) {
  const r = await get(server, path, params);
  assert.equal(r.status, 200, `${path}: ${r.text}`);
  assert.match(r.type, /^application\/json/);
  assert.deepEqual(Object.keys(r.body), ['data', 'total', 'limit', 'offset', 'errors'], 'envelope fields');
  return r.body;
}

/** A 4xx with Jaeger's error envelope as text/plain; returns the message. */
async function getError(server, path, params, status) {
  const r = await get(server, path, params);
  assert.equal(r.status, status, `${path} ${JSON.stringify(params)}: ${r.text}`);
  assert.match(r.type, /^text\/plain/);
  assert.ok(r.text.endsWith('\n'), 'http.Error ends the body with a newline');
  assert.equal(r.body.data, null);
  assert.equal(r.body.errors.length, 1);
  assert.equal(r.body.errors[0].code, status);
  return r.body.errors[0].msg;
}

const rfc3339Micros = (text) => {
  const ts = parseRfc3339(text);
  return (BigInt(ts.seconds) * 1_000_000n + BigInt(Math.trunc(ts.nanos / 1000))).toString();
};

/** A queries.json case as Grafana sends it: tags as a JSON map of strings, Go durations, µs times, lookback=custom. */
function searchParams(q) {
  const params = [['service', q.ServiceName]];
  if (q.OperationName) params.push(['operation', q.OperationName]);
  if (q.Tags) params.push(['tags', JSON.stringify(Object.fromEntries(Object.entries(q.Tags).map(([k, v]) => [k, String(v)])))]);
  if (q.StartTimeMin) params.push(['start', rfc3339Micros(q.StartTimeMin)]);
  if (q.StartTimeMax) params.push(['end', rfc3339Micros(q.StartTimeMax)]);
  if (q.DurationMin) params.push(['minDuration', `${q.DurationMin}ns`]);
  if (q.DurationMax) params.push(['maxDuration', `${q.DurationMax}ns`]);
  params.push(['limit', String(q.NumTraces || 20)], ['lookback', 'custom']);
  return params;
}

function useServer() {
  const ctx = {};
  before(async () => { ctx.server = await TbServer.start(); });
  after(async () => {
    if (ctx.server) {
      try { await ctx.server.stop(); } finally { await ctx.server.dispose(); }
    }
  });
  return ctx;
}

// ---------------------------------------------------------------------------------------------------------------
// The conformance set

for (const placement of ['head', 'blocks']) {
  describe(`/api conformance: the Jaeger set through /api/traces [${placement}]`, () => {
    const ctx = useServer();
    before(async () => {
      await storeFixtures(ctx.server, QUERY_FIXTURES, SHIFT, placement);
    }, { timeout: 120_000 });

    for (const [i, q] of QUERIES.entries()) {
      test(`search ${caseName(i, q)}`, async () => {
        const expected = expectedOf(q.ExpectedFixtures);
        const env = await getData(ctx.server, '/api/traces', searchParams(q.Query));
        assert.equal(env.errors, null);
        assert.deepEqual(env.data.map((t) => fullId(t.traceID)).sort(), traceIdsOf(expected), 'trace ids');
        assertSameSpans(spansOfTraces(env.data, caseName(i, q)), expected, caseName(i, q));
      });
    }

    for (const name of QUERY_FIXTURES) {
      test(`GET /api/traces/{id} and ?traceID= of every trace in ${name}`, async () => {
        const expected = expectedOf([name]);
        const ids = traceIdsOf(expected);
        for (const id of ids) {
          const env = await getData(ctx.server, `/api/traces/${id}`);
          assert.equal(env.data.length, 1);
          assertSameSpans(spansOfTraces(env.data, id), expected.filter((s) => s.traceId === id), `${name} ${id}`);
        }
        const multi = await getData(ctx.server, '/api/traces', ids.map((id) => ['traceID', id]));
        assert.equal(multi.errors, null);
        assertSameSpans(spansOfTraces(multi.data, name), expected, `${name} by traceID=`);
      });
    }

    test('the comparison bites: a changed tag value, an extra log, another process or duration is each reported', async () => {
      const expected = expectedOf(['span_tags_trace']);
      const env = await getData(ctx.server, `/api/traces/${expected[0].traceId}`);
      const mutations = [
        (t) => { t.spans[0].tags[0].value = `${t.spans[0].tags[0].value}x`; },
        (t) => { t.spans[0].logs.push({ timestamp: t.spans[0].startTime, fields: [] }); },
        (t) => { Object.values(t.processes)[0].serviceName += '-other'; },
        (t) => { t.spans[0].duration += 1; },
      ];
      for (const mutate of mutations) {
        const trace = structuredClone(env.data[0]);
        mutate(trace);
        assert.throws(() => assertSameSpans(spansOfTraces([trace], 'mutated'), expected, 'mutated'), { code: 'ERR_ASSERTION' });
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Everything else

const MINUTE_NS = 60_000_000_000n;

/** An OTLP/JSON document: `frontend` (server) calls `backend` (server) twice, a minute ago; trace id `traceId`. */
function callDoc(traceId, { status } = {}) {
  const t0 = BigInt(Date.now()) * 1_000_000n - MINUTE_NS;
  const span = (spanId, parentSpanId, name, kind, offset) => ({
    traceId, spanId, parentSpanId, name, kind,
    startTimeUnixNano: (t0 + BigInt(offset) * 1_000_000n).toString(),
    endTimeUnixNano: (t0 + BigInt(offset + 5) * 1_000_000n).toString(),
    attributes: [{ key: 'http.status_code', value: { intValue: '200' } }, { key: 'big', value: { intValue: '9007199254740993' } }],
    ...(status ? { status } : {}),
  });
  const resource = (service) => ({ attributes: [{ key: 'service.name', value: { stringValue: service } }] });
  return {
    resourceSpans: [
      { resource: resource('frontend'), scopeSpans: [{ scope: { name: 'lib', version: '1.0' }, spans: [span('00000000000000a1', '', 'GET /', 2, 0)] }] },
      { resource: resource('backend'), scopeSpans: [{ scope: {}, spans: [
        span('00000000000000b1', '00000000000000a1', 'query', 2, 1), span('00000000000000b2', '00000000000000a1', 'query', 2, 2)] }] },
    ],
  };
}

describe('/api: services, operations, dependencies, Grafana parameters, errors', () => {
  const ctx = useServer();
  const LONG_ID = '0123456789abcdef0123456789abcdef';
  const SHORT_ID = '00000000000000000000000000c0ffee';
  before(async () => {
    await ctx.server.purge();
    await ctx.server.postJson(JSON.stringify(callDoc(LONG_ID)));
    await ctx.server.postJson(JSON.stringify(callDoc(SHORT_ID, { status: { code: 2, message: 'boom' } })));
  });

  test('GET /api/services: the services, total = count', async () => {
    const env = await getData(ctx.server, '/api/services');
    assert.deepEqual([...env.data].sort(), ['backend', 'frontend']);
    assert.equal(env.total, 2);
  });

  test('GET /api/services/{service}/operations: unique names; null for an unknown service', async () => {
    const env = await getData(ctx.server, '/api/services/backend/operations');
    assert.deepEqual(env.data, ['query']);
    assert.equal(env.total, 1);
    const none = await getData(ctx.server, '/api/services/nobody/operations');
    assert.equal(none.data, null);
    assert.equal(none.total, 0);
  });

  test('GET /api/operations: name and spanKind, filtered by spanKind; service is required', async () => {
    const env = await getData(ctx.server, '/api/operations', [['service', 'frontend']]);
    assert.deepEqual(env.data, [{ name: 'GET /', spanKind: 'server' }]);
    const client = await getData(ctx.server, '/api/operations', [['service', 'frontend'], ['spanKind', 'client']]);
    assert.deepEqual(client.data, []);
    assert.equal(await getError(ctx.server, '/api/operations', [], 400), "parameter 'service' is required");
  });

  test('GET /api/dependencies: summed call counts; the service filter keeps links touching it', async () => {
    const endTs = String(Date.now() + 60_000);
    const env = await getData(ctx.server, '/api/dependencies', [['endTs', endTs], ['lookback', '3600000']]);
    assert.deepEqual(env.data, [{ parent: 'frontend', child: 'backend', callCount: 4 }]);
    const kept = await getData(ctx.server, '/api/dependencies', [['endTs', endTs], ['service', 'backend']]);
    assert.deepEqual(kept.data, env.data);
    const other = await getData(ctx.server, '/api/dependencies', [['endTs', endTs], ['service', 'elsewhere']]);
    assert.deepEqual(other.data, []);
    const past = await getData(ctx.server, '/api/dependencies', [['endTs', String(Date.now() - 3_600_000)], ['lookback', '60000']]);
    assert.deepEqual(past.data, []);
    assert.match(await getError(ctx.server, '/api/dependencies', [['lookback', '1h']], 400), /unable to parse param 'lookback'/);
  });

  test('trace ids: 16 hex digits when the high half is zero; short, padded and base64 forms find the trace', async () => {
    const env = await getData(ctx.server, `/api/traces/${SHORT_ID}`);
    assert.equal(env.data[0].traceID, '0000000000c0ffee');
    assert.equal(env.data[0].spans[1].references[0].traceID, '0000000000c0ffee');
    const b64 = Buffer.from(LONG_ID, 'hex').toString('base64');
    const urlSafe = Buffer.from(SHORT_ID.slice(16), 'hex').toString('base64url'); // 8 bytes: a 64-bit id
    const forms = [['c0ffee', '0000000000c0ffee'], ['0000000000C0FFEE', '0000000000c0ffee'], [b64, LONG_ID],
      [b64.replace(/=+$/, ''), LONG_ID], [urlSafe, '0000000000c0ffee']];
    for (const [form, id] of forms) {
      const got = await getData(ctx.server, `/api/traces/${encodeURIComponent(form)}`);
      assert.equal(got.data[0].traceID, id, form);
    }
  });

  test('one trace in UI JSON: processes by deep equality, typed tags, derived tags, big ints as strings', async () => {
    const env = await getData(ctx.server, `/api/traces/${SHORT_ID}`);
    const [trace] = env.data;
    assert.deepEqual(uiTraceProblems(trace), []);
    assert.equal(Object.keys(trace.processes).length, 2);
    const byId = Object.fromEntries(trace.spans.map((s) => [s.spanID, s]));
    assert.equal(byId['00000000000000b1'].processID, byId['00000000000000b2'].processID);
    const tags = Object.fromEntries(byId['00000000000000a1'].tags.map((t) => [t.key, t]));
    assert.deepEqual(tags['http.status_code'], { key: 'http.status_code', type: 'int64', value: 200 });
    assert.deepEqual(tags.big, { key: 'big', type: 'int64', value: '9007199254740993' });
    assert.deepEqual(tags.error, { key: 'error', type: 'bool', value: true });
    assert.equal(tags['otel.status_description'].value, 'boom');
    assert.equal(tags['otel.scope.name'].value, 'lib');
  });

  test('Grafana search: tags JSON from logfmt input, lookback=custom, limit, Go durations', async () => {
    const now = BigInt(Date.now()) * 1000n;
    const base = [['service', 'backend'], ['start', String(now - 3_600_000_000n)], ['end', String(now)], ['lookback', 'custom']];
    // Grafana turns `http.status_code=200 error=true` into this JSON map.
    const errors = await getData(ctx.server, '/api/traces', [...base, ['tags', '{"http.status_code":"200","error":"true"}'], ['limit', '20']]);
    assert.deepEqual(errors.data.map((t) => t.traceID), ['0000000000c0ffee']);
    const both = await getData(ctx.server, '/api/traces', [...base, ['tags', '{"http.status_code":"200"}']]);
    assert.equal(both.data.length, 2);
    const one = await getData(ctx.server, '/api/traces', [...base, ['limit', '1']]);
    assert.equal(one.data.length, 1);
    const repeated = await getData(ctx.server, '/api/traces', [...base, ['tag', 'otel.status_code:ERROR']]);
    assert.deepEqual(repeated.data.map((t) => t.traceID), ['0000000000c0ffee']);
    const dur = await getData(ctx.server, '/api/traces', [...base, ['minDuration', '4.5ms'], ['maxDuration', '5500µs']]);
    assert.equal(dur.data.length, 2);
    const tooLong = await getData(ctx.server, '/api/traces', [...base, ['minDuration', '1s']]);
    assert.deepEqual(tooLong.data, [], 'no match is 200 with data []');
  });

  test('?traceID= reports unknown traces in errors; /api/traces/{id} of an unknown trace is 404', async () => {
    const env = await getData(ctx.server, '/api/traces', [['traceID', LONG_ID], ['traceID', 'abc']]);
    assert.deepEqual(env.data.map((t) => t.traceID), [LONG_ID]);
    assert.deepEqual(env.errors, [{ msg: 'trace not found', traceID: '0000000000000abc' }]);
    assert.equal(await getError(ctx.server, '/api/traces/abc', [], 404), 'trace not found');
  });

  test('bad parameters are 400 with Jaeger\'s messages', async () => {
    const cases = [
      [[], /^parameter 'service' is required$/],
      [[['service', 'a'], ['minDuration', '2s'], ['maxDuration', '1s']], /^'maxDuration' should be greater than 'minDuration'$/],
      [[['service', 'a'], ['minDuration', 'soon']], /^unable to parse param 'minDuration'/],
      [[['service', 'a'], ['start', 'yesterday']], /^unable to parse param 'start'/],
      [[['service', 'a'], ['limit', 'many']], /^unable to parse param 'limit'/],
      [[['service', 'a'], ['tags', '{"a":']], /^malformed 'tags' parameter/],
      [[['service', 'a'], ['tag', 'novalue']], /^malformed 'tag' parameter/],
      [[['traceID', 'xyz!']], /^unable to parse param 'traceID'/],
    ];
    for (const [params, message] of cases) assert.match(await getError(ctx.server, '/api/traces', params, 400), message);
    assert.match(await getError(ctx.server, '/api/traces/not-hex!', [], 400), /^unable to parse param 'traceID'/);
  });

  test('a 10,008-span trace through /api/traces/{id}: all of it, equal to the fixture', async () => {
    const doc = largeTraceJson(shiftedFixtureText('example_trace', SHIFT), 10_008);
    await ctx.server.postJson(JSON.stringify(doc));
    const env = await getData(ctx.server, '/api/traces/11');
    assert.equal(env.data[0].spans.length, 10_008);
    assert.equal(Object.keys(env.data[0].processes).length, 1, 'one process for 10,008 equal ones');
    assertSameSpans(spansOfTraces(env.data, 'large'), atMicrosecondPrecision(expectedJaegerSpans(doc)), 'large trace');
  });

  test('prettyPrint=true indents by 4', async () => {
    const r = await get(ctx.server, '/api/services', [['prettyPrint', 'true']]);
    assert.equal(r.status, 200);
    assert.match(r.text, /^\{\n {4}"data": \[/);
  });
});

// POST /api/transform (docs/jaeger-semantics.md §6.7): the request-size limit holds however the body arrives, and is
// applied while it arrives; the server keeps answering afterwards.
describe('/api/transform: the request-size limit', () => {
  const LIMIT = 256 * 1024;
  const ctx = {};
  before(async () => { ctx.server = await TbServer.start({ extraArgs: ['--max-request-size', String(LIMIT)] }); });
  after(async () => {
    if (ctx.server) {
      try { await ctx.server.stop(); } finally { await ctx.server.dispose(); }
    }
  });

  // A valid OTLP/JSON document of `bytes` bytes (padding inside the JSON, so only its size can make it fail).
  const paddedDoc = (bytes) => {
    const head = JSON.stringify(callDoc('00000000000000000000000000000abc')).slice(0, -1);
    return `${head}${' '.repeat(Math.max(0, bytes - head.length - 1))}}`;
  };
  const post = async (body, headers = {}) => {
    const res = await fetch(`${ctx.server.httpBase}/api/transform`, { method: 'POST', body, headers, duplex: 'half',
      signal: AbortSignal.timeout(30_000) });
    return { status: res.status, text: await res.text() };
  };
  const assertTooLarge = (r, how) => {
    assert.equal(r.status, 413, `${how}: ${r.text.slice(0, 200)}`);
    assert.deepEqual(JSON.parse(r.text).errors, [{ code: 413, msg: `request body exceeds limits.max_request_size (${LIMIT} bytes)` }], how);
  };

  test('a body within the limit is transformed', async () => {
    const r = await post(paddedDoc(LIMIT - 1024), { 'content-type': 'text/plain;charset=UTF-8' });
    assert.equal(r.status, 200, r.text.slice(0, 200));
    assert.deepEqual(JSON.parse(r.text).data.map((t) => [t.traceID, t.spans.length]), [['0000000000000abc', 3]]);
  });

  test('over the limit: by Content-Length, chunked, and gzip-compressed to a fraction of it → 413', async () => {
    const big = paddedDoc(2 * LIMIT);
    assertTooLarge(await post(big), 'Content-Length');
    const chunks = [big.slice(0, LIMIT / 2), big.slice(LIMIT / 2, LIMIT), big.slice(LIMIT)];
    const stream = new ReadableStream({ pull(c) { if (chunks.length) c.enqueue(new TextEncoder().encode(chunks.shift())); else c.close(); } });
    assertTooLarge(await post(stream), 'chunked');
    const { gzipSync } = await import('node:zlib');
    const gz = gzipSync(big);
    assert.ok(gz.length < LIMIT / 10, `the compressed body (${gz.length} bytes) is far below the limit`);
    assertTooLarge(await post(gz, { 'content-encoding': 'gzip' }), 'gzip');
    assert.equal((await post(gzipSync(paddedDoc(LIMIT / 2)), { 'content-encoding': 'gzip' })).status, 200, 'gzip within the limit');
    assert.equal((await fetch(`${ctx.server.httpBase}/ready`)).status, 200, 'the server still answers');
  });
});
