// api_v3 over HTTP (what current Jaeger UI calls; docs/jaeger-semantics.md §6.4), driven with Node's built-in fetch:
//   * every case of the Jaeger conformance set (tests/conformance/jaeger queries.json) through
//     GET /api/v3/traces?query.* and every fixture trace through GET /api/v3/traces/{id}, read from the head and
//     from blocks, compared with the fixtures (lib/canonical.mjs, the comparison the v2 suite uses);
//   * /api/v3/trace-summaries for every case, with the summary fields computed here from the fixture;
//   * services, operations (spanKind filter, "internal" for kind-less operations), api_v3's error shape with 400
//     for bad parameters and 404 for unknown traces;
//   * CORS (--cors-allowed-origins): preflight OPTIONS and headers on a cross-origin GET, none for other origins,
//     none at all without the flag; gzip responses when the request accepts gzip.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TbServer } from './lib/server.mjs';
import { fixturesOfQueries, loadQueries, makeDateShift, shiftedFixtureText, storeFixtures } from './lib/fixtures.mjs';
import { compareDec, spansFromOtlpJson } from './lib/canonical.mjs';
import { assertSameTraces, traceIdsOf } from './lib/checks.mjs';

const SHIFT = makeDateShift();
const QUERIES = loadQueries(SHIFT);
const QUERY_FIXTURES = fixturesOfQueries(QUERIES);
const EXAMPLE_TRACE_ID = '00000000000000000000000000000011';
const caseName = (i, q) => `${String(i + 1).padStart(2, '0')} ${q.Caption}`;
const fixtureText = (name) => shiftedFixtureText(name, SHIFT);
const expectedOf = (names) => names.flatMap((n) => spansFromOtlpJson(fixtureText(n)));
const UI_ORIGIN = 'http://jaeger-ui.example:16686';

/** queries.json Query → the URL parameters Jaeger UI sends to /api/v3/traces and /api/v3/trace-summaries. */
function queryToSearchParams(q) {
  const p = new URLSearchParams();
  if (q.ServiceName) p.set('query.serviceName', q.ServiceName);
  if (q.OperationName) p.set('query.operationName', q.OperationName);
  const tags = Object.entries(q.Tags ?? {});
  // api_v3 attributes are a JSON map of strings; 123, 72.5 and true must match by their string form.
  if (tags.length) p.set('query.attributes', JSON.stringify(Object.fromEntries(tags.map(([k, v]) => [k, String(v)]))));
  p.set('query.startTimeMin', q.StartTimeMin);
  p.set('query.startTimeMax', q.StartTimeMax);
  // queries.json durations are Go time.Duration values in nanoseconds.
  if (q.DurationMin) p.set('query.durationMin', `${q.DurationMin}ns`);
  if (q.DurationMax) p.set('query.durationMax', `${q.DurationMax}ns`);
  if (q.NumTraces) p.set('query.searchDepth', String(q.NumTraces));
  return p;
}

async function get(server, pathAndQuery, headers = {}) {
  const res = await fetch(`${server.httpBase}${pathAndQuery}`, { headers, signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  let body;
  try { body = JSON.parse(text); } catch { body = undefined; }
  return { status: res.status, headers: res.headers, text, body };
}

/** A 200 whose body is {"result": TracesData} holding exactly `expected` (canonical spans). */
function assertTracesResult(r, expected, context) {
  assert.equal(r.status, 200, `${context}: status ${r.status}, body ${r.text.slice(0, 300)}`);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  assert.deepEqual(Object.keys(r.body), ['result'], `${context}: top-level keys`);
  const spans = spansFromOtlpJson(r.body.result);
  assert.deepEqual(traceIdsOf(spans), traceIdsOf(expected), `${context}: trace ids`);
  assert.equal(spans.length, expected.length, `${context}: span count`);
  assertSameTraces(expected, spans, context);
}

function assertApiError(r, httpCode, messagePattern, context = '') {
  assert.equal(r.status, httpCode, `${context}: status ${r.status}, body ${r.text.slice(0, 300)}`);
  assert.ok(r.body?.error, `${context}: an {"error": {...}} body, got ${r.text.slice(0, 300)}`);
  assert.equal(r.body.error.httpCode, httpCode, `${context}: error.httpCode`);
  assert.match(r.body.error.message, messagePattern, context);
}

const serviceOf = (span) => span.resource.attributes.find((a) => a.key === 'service.name' && a.value.t === 'string')?.value.v ?? '';

/** A trace summary computed from canonical spans, written from api_v3's definition (docs/jaeger-semantics.md §6.4, §2.3). */
function expectedSummary(spans) {
  const ids = new Set(spans.map((s) => s.spanId));
  const isRoot = (s) => !s.parentSpanId || /^0+$/.test(s.parentSpanId);
  const roots = spans.filter(isRoot).sort((a, b) => compareDec(a.startTimeUnixNano, b.startTimeUnixNano));
  const services = new Map();
  for (const s of spans) {
    const e = services.get(serviceOf(s)) ?? { name: serviceOf(s), spanCount: 0, errorSpanCount: 0 };
    e.spanCount += 1;
    if (s.status.code === 2) e.errorSpanCount += 1;
    services.set(e.name, e);
  }
  const min = spans.map((s) => BigInt(s.startTimeUnixNano)).reduce((a, b) => (b < a ? b : a));
  const max = spans.map((s) => BigInt(s.endTimeUnixNano)).reduce((a, b) => (b > a ? b : a));
  return {
    traceId: spans[0].traceId,
    rootServiceName: roots.length ? serviceOf(roots[0]) : '',
    rootOperationName: roots.length ? roots[0].name : '',
    minStartTimeUnixNano: min.toString(),
    maxEndTimeUnixNano: max.toString(),
    spanCount: spans.length,
    errorSpanCount: spans.filter((s) => s.status.code === 2).length,
    orphanSpanCount: spans.filter((s) => !isRoot(s) && !ids.has(s.parentSpanId)).length,
    services: [...services.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
}

/** A summary as received, with jsonpb's omitted zero values filled back in. */
function normalizeSummary(s) {
  return {
    traceId: s.traceId,
    rootServiceName: s.rootServiceName ?? '',
    rootOperationName: s.rootOperationName ?? '',
    minStartTimeUnixNano: s.minStartTimeUnixNano ?? '0',
    maxEndTimeUnixNano: s.maxEndTimeUnixNano ?? '0',
    spanCount: s.spanCount ?? 0,
    errorSpanCount: s.errorSpanCount ?? 0,
    orphanSpanCount: s.orphanSpanCount ?? 0,
    services: (s.services ?? []).map((x) => ({ name: x.name ?? '', spanCount: x.spanCount ?? 0, errorSpanCount: x.errorSpanCount ?? 0 })),
  };
}

function useServer(extraArgs = []) {
  const ctx = {};
  before(async () => { ctx.server = await TbServer.start({ extraArgs }); }, { timeout: 60_000 });
  after(async () => {
    if (ctx.server) {
      try { await ctx.server.stop(); } finally { await ctx.server.dispose(); }
    }
  }, { timeout: 60_000 });
  return ctx;
}

for (const placement of ['head', 'blocks']) {
  describe(`api_v3 conformance: the Jaeger set through /api/v3/traces, /traces/{id}, /trace-summaries [${placement}]`, () => {
    const ctx = useServer(placement === 'blocks' ? ['--no-background-flush'] : []);
    before(async () => {
      await storeFixtures(ctx.server, QUERY_FIXTURES, SHIFT, placement);
    }, { timeout: 120_000 });

    for (const [i, q] of QUERIES.entries()) {
      test(`GET /api/v3/traces ${caseName(i, q)}`, async () => {
        const r = await get(ctx.server, `/api/v3/traces?${queryToSearchParams(q.Query)}`);
        assertTracesResult(r, expectedOf(q.ExpectedFixtures), caseName(i, q));
      });
      test(`GET /api/v3/trace-summaries ${caseName(i, q)}`, async () => {
        const r = await get(ctx.server, `/api/v3/trace-summaries?${queryToSearchParams(q.Query)}`);
        assert.equal(r.status, 200, r.text.slice(0, 300));
        const byTrace = new Map();
        for (const s of expectedOf(q.ExpectedFixtures)) byTrace.set(s.traceId, [...(byTrace.get(s.traceId) ?? []), s]);
        const got = r.body.summaries.map(normalizeSummary).sort((a, b) => (a.traceId < b.traceId ? -1 : 1));
        const want = [...byTrace.keys()].sort().map((id) => expectedSummary(byTrace.get(id)));
        assert.deepEqual(got, want, caseName(i, q));
      });
    }

    for (const name of QUERY_FIXTURES) {
      test(`GET /api/v3/traces/{id} of every trace in ${name}`, async () => {
        const expected = expectedOf([name]);
        for (const id of traceIdsOf(expected)) {
          const r = await get(ctx.server, `/api/v3/traces/${id}`);
          assertTracesResult(r, expected.filter((s) => s.traceId === id), `${name} ${id}`);
        }
      });
    }

    test('GET /api/v3/traces/{id} with startTime/endTime hints and rawTraces, in both spellings', async () => {
      const all = expectedOf(QUERY_FIXTURES);
      const id = traceIdsOf(all)[0];
      const expected = all.filter((s) => s.traceId === id);
      const startMs = Number(BigInt(expected[0].startTimeUnixNano) / 1_000_000n);
      const start = new Date(startMs - 3_600_000).toISOString();
      const end = new Date(startMs + 3_600_000).toISOString();
      for (const qs of [`startTime=${start}&endTime=${end}&rawTraces=true`, `start_time=${start}&end_time=${end}&raw_traces=false`]) {
        assertTracesResult(await get(ctx.server, `/api/v3/traces/${id}?${qs}`), expected, qs);
      }
      // Jaeger accepts trace ids without their leading zeros, and in upper case.
      const short = id.replace(/^0+/, '').toUpperCase();
      assert.ok(short.length < 32, `${id} has leading zeros`);
      assertTracesResult(await get(ctx.server, `/api/v3/traces/${short}`), expected, `short id ${short}`);
    });
  });
}

describe('api_v3: services, operations, errors', () => {
  const ctx = useServer();
  before(async () => {
    await ctx.server.purge();
    await ctx.server.postJson(fixtureText('example_trace'));
  });

  test('GET /api/v3/services lists exactly the services of the written spans', async () => {
    const r = await get(ctx.server, '/api/v3/services');
    assert.equal(r.status, 200);
    const want = [...new Set(expectedOf(['example_trace']).map(serviceOf))].sort();
    assert.deepEqual([...r.body.services].sort(), want);
  });

  test('GET /api/v3/operations: every operation of a service, and by spanKind / span_kind', async () => {
    const spans = expectedOf(['example_trace']);
    const service = serviceOf(spans[0]);
    const kindName = ['internal', 'internal', 'server', 'client', 'producer', 'consumer'];
    const all = [...new Set(spans.filter((s) => serviceOf(s) === service).map((s) => `${s.name}|${kindName[s.kind]}`))].sort();
    const r = await get(ctx.server, `/api/v3/operations?service=${encodeURIComponent(service)}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.operations.map((o) => `${o.name}|${o.spanKind}`).sort(), all);
    const kinds = [...new Set(all.map((x) => x.split('|')[1]))];
    for (const kind of new Set([...kinds, 'server', 'internal'])) {
      for (const param of ['spanKind', 'span_kind']) {
        const k = await get(ctx.server, `/api/v3/operations?service=${encodeURIComponent(service)}&${param}=${kind}`);
        assert.equal(k.status, 200);
        assert.deepEqual(k.body.operations.map((o) => `${o.name}|${o.spanKind}`).sort(), all.filter((x) => x.endsWith(`|${kind}`)),
          `${param}=${kind}`);
      }
    }
    const none = await get(ctx.server, '/api/v3/operations?service=no-such-service');
    assert.deepEqual(none.body.operations, []);
  });

  test('an unknown trace is 404 "No traces found"; a search without matches too', async () => {
    assertApiError(await get(ctx.server, '/api/v3/traces/0123456789abcdef0123456789abcdef'), 404, /^No traces found$/);
    const p = new URLSearchParams({ 'query.serviceName': 'no-such-service', 'query.startTimeMin': '2000-01-01T00:00:00Z',
      'query.startTimeMax': '2100-01-01T00:00:00Z' });
    assertApiError(await get(ctx.server, `/api/v3/traces?${p}`), 404, /^No traces found$/);
    const s = await get(ctx.server, `/api/v3/trace-summaries?${p}`);
    assert.equal(s.status, 200);
    assert.deepEqual(s.body.summaries, []);
  });

  test('bad parameters are 400 in api_v3\'s error shape, naming the parameter', async () => {
    const window = 'query.startTimeMin=2000-01-01T00:00:00Z&query.startTimeMax=2100-01-01T00:00:00Z';
    const cases = [
      ['/api/v3/traces/xyz', /trace_id/],
      ['/api/v3/traces/0123456789abcdef0123456789abcdef0', /trace_id/],
      ['/api/v3/traces/00000000000000000000000000000000', /trace_id/],
      [`/api/v3/traces/${EXAMPLE_TRACE_ID}?startTime=yesterday`, /startTime/],
      [`/api/v3/traces/${EXAMPLE_TRACE_ID}?rawTraces=maybe`, /rawTraces/],
      ['/api/v3/traces?query.serviceName=a', /query\.startTimeMin and query\.startTimeMax are required/],
      ['/api/v3/trace-summaries', /required/],
      ['/api/v3/traces?query.startTimeMin=2000-01-01&query.startTimeMax=2100-01-01T00:00:00Z', /query\.startTimeMin/],
      ['/api/v3/traces?query.startTimeMin=2100-01-01T00:00:00Z&query.startTimeMax=2000-01-01T00:00:00Z', /after/],
      [`/api/v3/traces?${window}&query.durationMin=1.5`, /query\.durationMin/],
      [`/api/v3/traces?${window}&query.durationMax=-1s`, /query\.durationMax/],
      [`/api/v3/traces?${window}&query.durationMin=2s&query.durationMax=1s`, /durationMin/],
      [`/api/v3/traces?${window}&query.searchDepth=0`, /query\.searchDepth/],
      [`/api/v3/traces?${window}&query.search_depth=ten`, /query\.search_depth/],
      [`/api/v3/traces?${window}&query.attributes=${encodeURIComponent('{"http.status_code":200}')}`, /not a string/],
      [`/api/v3/traces?${window}&query.attributes=${encodeURIComponent('{oops')}`, /query\.attributes/],
      [`/api/v3/trace-summaries?${window}&query.filter=${encodeURIComponent('{"op":"and"}')}`, /not supported/],
    ];
    for (const [url, pattern] of cases) assertApiError(await get(ctx.server, url), 400, pattern, url);
  });

  test('durations in Go syntax filter as their nanosecond values', async () => {
    const spans = expectedOf(['example_trace']);
    const longest = spans.map((s) => BigInt(s.endTimeUnixNano) - BigInt(s.startTimeUnixNano)).reduce((a, b) => (b > a ? b : a));
    const window = 'query.startTimeMin=2000-01-01T00:00:00Z&query.startTimeMax=2100-01-01T00:00:00Z';
    // At least the longest span: found (in µs and in seconds with a fraction); one nanosecond longer: nothing.
    const inMicros = `${longest / 1000n}us`;
    assertTracesResult(await get(ctx.server, `/api/v3/traces?${window}&query.durationMin=${inMicros}`), spans, inMicros);
    const inSeconds = `${Number(longest) / 1e9}s`;
    if (BigInt(Math.round(Number(inSeconds.slice(0, -1)) * 1e9)) === longest) {
      assertTracesResult(await get(ctx.server, `/api/v3/traces?${window}&query.durationMin=${inSeconds}`), spans, inSeconds);
    }
    assertApiError(await get(ctx.server, `/api/v3/traces?${window}&query.durationMin=${longest + 1n}ns`), 404, /No traces/);
  });
});

describe('api_v3 in a browser: CORS and gzip', () => {
  const ctx = useServer(['--cors-allowed-origins', `${UI_ORIGIN},http://grafana.example:3000`]);
  before(async () => {
    await ctx.server.purge();
    await ctx.server.postJson(fixtureText('example_trace'));
  });

  test('a preflight OPTIONS from an allowed origin is answered for every GET route', async () => {
    for (const route of ['/api/v3/services', '/api/v3/operations?service=x', `/api/v3/traces/${EXAMPLE_TRACE_ID}`,
      '/api/v3/traces?query.serviceName=x', '/api/v3/trace-summaries?query.serviceName=x']) {
      const res = await fetch(`${ctx.server.httpBase}${route}`, {
        method: 'OPTIONS',
        headers: { Origin: UI_ORIGIN, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'x-request-id' },
      });
      assert.ok(res.status === 204 || res.status === 200, `${route}: preflight status ${res.status}`);
      assert.equal(res.headers.get('access-control-allow-origin'), UI_ORIGIN, route);
      assert.match(res.headers.get('access-control-allow-methods') ?? '', /\bGET\b/, route);
      assert.match(res.headers.get('access-control-allow-headers') ?? '', /x-request-id/i, route);
      assert.match(res.headers.get('vary') ?? '', /Origin/i, route);
    }
  });

  test('a cross-origin GET carries Access-Control-Allow-Origin and Vary: Origin, also on errors', async () => {
    const ok = await get(ctx.server, '/api/v3/services', { Origin: UI_ORIGIN });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), UI_ORIGIN);
    assert.match(ok.headers.get('vary') ?? '', /Origin/i);
    const other = await get(ctx.server, '/api/v3/services', { Origin: 'http://grafana.example:3000' });
    assert.equal(other.headers.get('access-control-allow-origin'), 'http://grafana.example:3000');
    const bad = await get(ctx.server, '/api/v3/traces/xyz', { Origin: UI_ORIGIN });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get('access-control-allow-origin'), UI_ORIGIN, 'the browser must be able to read the error');
  });

  test('an origin that is not allowed gets no CORS headers', async () => {
    const r = await get(ctx.server, '/api/v3/services', { Origin: 'http://evil.example' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    const pre = await fetch(`${ctx.server.httpBase}/api/v3/services`, {
      method: 'OPTIONS', headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'GET' },
    });
    assert.equal(pre.headers.get('access-control-allow-origin'), null);
    assert.equal(pre.headers.get('access-control-allow-methods'), null);
  });

  test('Accept-Encoding: gzip gets a gzip body that decodes to the same JSON; no Accept-Encoding, no compression', async () => {
    const url = `/api/v3/traces/${EXAMPLE_TRACE_ID}`;
    const zipped = await get(ctx.server, url, { 'Accept-Encoding': 'gzip' });
    assert.equal(zipped.headers.get('content-encoding'), 'gzip');
    assertTracesResult(zipped, expectedOf(['example_trace']), 'gzip');
    const plain = await get(ctx.server, url, { 'Accept-Encoding': 'identity' });
    assert.equal(plain.headers.get('content-encoding'), null);
    assert.equal(plain.text, zipped.text, 'the decoded gzip body equals the uncompressed one');
    // The raw bytes on the wire are gzip (magic 1f 8b) and smaller than the JSON.
    const raw = await rawGet(ctx.server, url, 'gzip');
    assert.equal(raw.body[0], 0x1f);
    assert.equal(raw.body[1], 0x8b);
    assert.ok(raw.body.length < Buffer.byteLength(plain.text), `${raw.body.length} >= ${Buffer.byteLength(plain.text)}`);
  });

  test('a browser\'s Accept-Encoding (gzip, deflate, br) gets gzip, never slow brotli', async () => {
    for (const accept of ['gzip, deflate, br', 'br;q=1.0, gzip;q=0.8', 'BR,gzip']) {
      const r = await get(ctx.server, '/api/v3/services', { 'Accept-Encoding': accept });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-encoding'), 'gzip', accept);
      assert.ok(Array.isArray(r.body.services), accept);
    }
    const onlyBr = await get(ctx.server, '/api/v3/services', { 'Accept-Encoding': 'br' });
    assert.equal(onlyBr.headers.get('content-encoding'), null, 'br alone: uncompressed');
    assert.ok(Array.isArray(onlyBr.body.services));
  });
});

describe('api_v3: search depth, order, and a check that the comparison bites', () => {
  const ctx = useServer();
  const multiple = QUERIES.find((q) => q.ExpectedFixtures.length === 3);
  before(async () => {
    await ctx.server.purge();
    for (const name of multiple.ExpectedFixtures) await ctx.server.postJson(fixtureText(name));
  });

  test('query.searchDepth=N returns the N traces with the newest spans, newest first', async () => {
    const expected = expectedOf(multiple.ExpectedFixtures);
    const newest = new Map();
    for (const s of expected) {
      const prev = newest.get(s.traceId) ?? 0n;
      if (BigInt(s.startTimeUnixNano) > prev) newest.set(s.traceId, BigInt(s.startTimeUnixNano));
    }
    const order = [...newest.entries()].sort((a, b) => (b[1] > a[1] ? 1 : b[1] < a[1] ? -1 : 0)).map(([id]) => id);
    for (const depth of [1, 2, 3]) {
      const p = queryToSearchParams({ ...multiple.Query, NumTraces: depth });
      const r = await get(ctx.server, `/api/v3/traces?${p}`);
      const keep = new Set(order.slice(0, depth));
      assertTracesResult(r, expected.filter((s) => keep.has(s.traceId)), `searchDepth=${depth}`);
      const seen = [];
      for (const rs of r.body.result.resourceSpans) {
        for (const ss of rs.scopeSpans ?? []) for (const sp of ss.spans ?? []) if (!seen.includes(sp.traceId.toLowerCase())) seen.push(sp.traceId.toLowerCase());
      }
      assert.deepEqual(seen, order.slice(0, depth), 'traces in the merged result, newest first');
    }
  });

  test('the comparison bites: a changed attribute, a lost span or a wrong trace id fails it', async () => {
    const expected = expectedOf(multiple.ExpectedFixtures);
    const r = await get(ctx.server, `/api/v3/traces?${queryToSearchParams(multiple.Query)}`);
    assertTracesResult(r, expected, 'unchanged');
    const mutations = [
      (d) => { d.result.resourceSpans[0].scopeSpans[0].spans[0].name += 'x'; },
      (d) => { d.result.resourceSpans[0].scopeSpans[0].spans.pop(); },
      (d) => { const sp = d.result.resourceSpans[0].scopeSpans[0].spans[0]; sp.traceId = `f${sp.traceId.slice(1)}`; },
      (d) => { d.result.resourceSpans[0].resource.attributes = []; },
    ];
    for (const [i, mutate] of mutations.entries()) {
      const body = structuredClone(r.body);
      mutate(body);
      assert.throws(() => assertTracesResult({ ...r, body }, expected, `mutation ${i}`), assert.AssertionError, `mutation ${i}`);
    }
  });
});

describe('api_v3 with --cors-allowed-origins "*"', () => {
  const ctx = useServer(['--cors-allowed-origins', '*']);
  test('any origin gets Access-Control-Allow-Origin: *', async () => {
    const r = await get(ctx.server, '/api/v3/services', { Origin: 'http://anywhere.example' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    const pre = await fetch(`${ctx.server.httpBase}/api/v3/traces/abc`, {
      method: 'OPTIONS', headers: { Origin: 'http://anywhere.example', 'Access-Control-Request-Method': 'GET' },
    });
    assert.equal(pre.headers.get('access-control-allow-origin'), '*');
    assert.match(pre.headers.get('access-control-allow-methods') ?? '', /\bGET\b/);
  });
});

describe('api_v3 without --cors-allowed-origins', () => {
  const ctx = useServer();
  test('no CORS headers for any origin', async () => {
    const r = await get(ctx.server, '/api/v3/services', { Origin: UI_ORIGIN });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), null);
  });
});

/** GET with node:http, which does not decode the body, to see the bytes on the wire. */
async function rawGet(server, pathAndQuery, acceptEncoding) {
  const http = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = http.get(`${server.httpBase}${pathAndQuery}`, { headers: { 'Accept-Encoding': acceptEncoding } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}
