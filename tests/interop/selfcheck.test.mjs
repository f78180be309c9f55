// Checks of the harness itself that need no server: proto loading, date shifting, query conversion, and the
// comparator (fixture vs itself after an encode/decode round trip; mutations must be reported).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { decodeMessage, encodeMessage, loadProtos } from './lib/proto.mjs';
import { cloneSpans, diffTraces, spansFromOtlpJson, spansFromProto } from './lib/canonical.mjs';
import {
  FIXTURE_DIR, fixtureText, fixturesOfQueries, largeTraceJson, loadQueries, makeDateShift, otlpJsonToProto,
  parseRfc3339, queryToParams, shiftFixtureText, shiftNanos, shiftedFixtureText,
} from './lib/fixtures.mjs';

const ALL_FIXTURES = fs.readdirSync(path.join(FIXTURE_DIR, 'traces')).map((f) => f.replace(/\.json$/, '')).sort();
const shift = makeDateShift(new Date('2024-03-01T10:00:00Z'));

function roundTrip(text) {
  const bytes = encodeMessage('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest', otlpJsonToProto(text));
  return spansFromProto(decodeMessage('opentelemetry.proto.trace.v1.TracesData', bytes));
}

describe('harness self-check', () => {
  test('every suite in this folder is registered with ctest and run by `npm test`', () => {
    const here = path.dirname(new URL(import.meta.url).pathname);
    const suites = fs.readdirSync(here).filter((f) => f.endsWith('.test.mjs')).sort();
    const cmake = fs.readFileSync(path.join(here, '..', 'CMakeLists.txt'), 'utf8');
    const registered = [...cmake.matchAll(/"[a-z0-9_]+\|([a-z0-9_]+\.test\.mjs)\|\d+"/g)].map((m) => m[1]).sort();
    assert.deepEqual(registered, suites, 'tests/CMakeLists.txt TB_INTEROP_SUITES');
    // `npm test` names no files, so node's runner finds every *.test.mjs here (node_modules excluded).
    const { scripts } = JSON.parse(fs.readFileSync(path.join(here, 'package.json'), 'utf8'));
    assert.doesNotMatch(scripts.test, /\.mjs/, 'the test script must not pick suites by name');
  });

  test('protos load and name every service the server serves', () => {
    const { packageDefinition } = loadProtos();
    for (const svc of ['opentelemetry.proto.collector.trace.v1.TraceService', 'jaeger.storage.v2.TraceReader',
      'jaeger.storage.v2.DependencyReader', 'jaeger.storage.v2.Capabilities', 'grpc.health.v1.Health']) {
      assert.ok(packageDefinition[svc], svc);
    }
    assert.deepEqual(Object.keys(packageDefinition['jaeger.storage.v2.TraceReader']).sort(),
      ['FindTraceIDs', 'FindTraceSummaries', 'FindTraces', 'GetOperations', 'GetServices', 'GetTraces']);
  });

  test('date shift: 2017-01-26 → yesterday, 2017-01-25 → two days ago, time of day kept', () => {
    assert.equal(shift.yesterday, '2024-02-29');
    assert.equal(shift.twoDaysAgo, '2024-02-28');
    // 2017-01-26T16:46:31.639875Z
    const shifted = shiftNanos('1485449191639875000', shift);
    assert.equal(new Date(Number(BigInt(shifted) / 1_000_000n)).toISOString(), '2024-02-29T16:46:31.639Z');
    assert.equal(BigInt(shifted) % 1_000_000_000n, 639875000n);
    // 2017-01-25T23:56:31.639875Z
    const earlier = shiftNanos('1485388591639875000', shift);
    assert.equal(new Date(Number(BigInt(earlier) / 1_000_000n)).toISOString(), '2024-02-28T23:56:31.639Z');
    // only time values change in the text
    const raw = fixtureText('multi_index_trace');
    const txt = shiftFixtureText(raw, shift);
    assert.equal(txt.length, raw.length);
    assert.equal(txt.replace(/\d{19}/g, 'T'), raw.replace(/\d{19}/g, 'T'));
    assert.notEqual(txt, raw);
  });

  test('RFC 3339 parsing is nanosecond exact and handles year 0001', () => {
    assert.deepEqual(parseRfc3339('2017-01-26T15:46:31.639875Z'), { seconds: '1485445591', nanos: 639875000 });
    assert.deepEqual(parseRfc3339('0001-01-01T00:00:00Z'), { seconds: '-62135596800', nanos: 0 });
    assert.deepEqual(parseRfc3339('2017-01-26T16:46:31+01:00'), { seconds: '1485445591', nanos: 0 });
  });

  test('queries.json: 25 cases, typed and string-typed tags, zero durations present', () => {
    const qs = loadQueries(shift);
    assert.equal(qs.length, 25);
    const p = queryToParams(qs[0].Query);
    assert.deepEqual(p.attributes, [
      { key: 'sameplacetag1', value: { stringValue: 'sameplacevalue' } },
      { key: 'sameplacetag2', value: { intValue: '123' } },
      { key: 'sameplacetag3', value: { doubleValue: 72.5 } },
      { key: 'sameplacetag4', value: { boolValue: true } },
    ]);
    assert.deepEqual(queryToParams(qs[0].Query, { typed: false }).attributes.map((a) => a.value.stringValue),
      ['sameplacevalue', '123', '72.5', 'true']);
    assert.deepEqual(p.durationMin, { seconds: '0', nanos: 0 });
    assert.equal(BigInt(p.startTimeMin.seconds) > 1_700_000_000n, true);
    const bytes = encodeMessage('jaeger.storage.v2.FindTracesRequest', { query: p });
    const back = decodeMessage('jaeger.storage.v2.FindTracesRequest', bytes).query;
    assert.equal(back.attributes[1].value.value, 'intValue');
    assert.equal(back.attributes[2].value.value, 'doubleValue');
    assert.ok(back.durationMin, 'a zero Duration is still sent, as Jaeger does');
    for (const f of fixturesOfQueries(qs)) assert.ok(ALL_FIXTURES.includes(f), f);
  });

  test('every fixture equals itself after OTLP/JSON → protobuf → canonical', () => {
    for (const name of ALL_FIXTURES) {
      const text = shiftedFixtureText(name, shift);
      const fromJson = spansFromOtlpJson(text);
      const fromProto = roundTrip(text);
      assert.ok(fromJson.length > 0, name);
      assert.deepEqual(diffTraces(fromJson, fromProto), [], name);
    }
  });

  test('regrouping spans under resources/scopes does not matter', () => {
    const doc = JSON.parse(shiftedFixtureText('example_trace', shift));
    // put every span in its own ResourceSpans, reversed
    const regrouped = { resourceSpans: [] };
    for (const rs of doc.resourceSpans) {
      for (const ss of rs.scopeSpans) {
        for (const s of ss.spans) regrouped.resourceSpans.unshift({ resource: rs.resource, scopeSpans: [{ scope: ss.scope, spans: [s] }] });
      }
    }
    assert.deepEqual(diffTraces(spansFromOtlpJson(doc), spansFromOtlpJson(regrouped)), []);
  });

  test('the comparator bites: every kind of mutation is reported', () => {
    const base = spansFromOtlpJson(shiftedFixtureText('scope_name_version_trace', shift));
    const link = spansFromOtlpJson(shiftedFixtureText('link_attributes_trace', shift));
    const example = spansFromOtlpJson(shiftedFixtureText('example_trace', shift));
    const cases = [
      ['int → double', base, (s) => { const a = s[0].attributes.find((x) => x.key === 'sameplacetag2'); a.value = { t: 'double', v: 123 }; }, /sameplacetag2.*int\(123\).*double\(123\)/],
      ['double → string', base, (s) => { const a = s[0].attributes.find((x) => x.key === 'sameplacetag3'); a.value = { t: 'string', v: '72.5' }; }, /sameplacetag3/],
      ['bytes changed', base, (s) => { const a = s[0].attributes.find((x) => x.key === 'blob'); a.value = { t: 'bytes', v: 'AAAwOg==' }; }, /blob/],
      ['attribute dropped', base, (s) => { s[0].attributes.pop(); }, /missing/],
      ['scope version', base, (s) => { s[0].scope.version = '1.1.2'; }, /scope\.version/],
      ['resource attribute', base, (s) => { s[0].resource.attributes[0].value.v = 'other'; }, /resource\.attributes\[service\.name\]/],
      ['span dropped', example, (s) => { s.splice(2, 1); }, /expected 5 span\(s\), got 4|missing/],
      ['span name', example, (s) => { s[1].name = 'x'; }, /\.name/],
      ['kind', example, (s) => { s[4].kind = 1; }, /\.kind/],
      ['end time', example, (s) => { s[0].endTimeUnixNano = (BigInt(s[0].endTimeUnixNano) + 1n).toString(); }, /endTimeUnixNano/],
      ['parent', example, (s) => { s[0].parentSpanId = '0000000000000001'; }, /parentSpanId/],
      ['trace state', example, (s) => { s[0].traceState = 'a=b'; }, /traceState/],
      ['status', example, (s) => { s[0].status = { code: 2, message: 'boom' }; }, /status\.code/],
      ['event dropped', example, (s) => { s[0].events.pop(); }, /events/],
      ['dropped counts', example, (s) => { s[0].droppedEventsCount = 3; }, /droppedEventsCount/],
      ['link attribute', link, (s) => { s[0].links[2].attributes[0].value.v = 'x'; }, /links/],
      ['trace id', example, (s) => { s[0].traceId = '00000000000000000000000000000012'; }, /unexpected trace|missing/],
    ];
    for (const [what, spans, mutate, re] of cases) {
      const mutated = cloneSpans(spans);
      mutate(mutated);
      const d = diffTraces(spans, mutated);
      assert.ok(d.length > 0, `${what}: no difference reported`);
      assert.match(d.join('\n'), re, what);
    }
  });

  test('synthetic large and duplicate-id traces', () => {
    const example = shiftedFixtureText('example_trace', shift);
    const dup = spansFromOtlpJson(largeTraceJson(example, 200, 20));
    assert.equal(dup.length, 200);
    assert.equal(dup.filter((s) => s.spanId === '0000000000000004').length, 10); // 9 duplicates + id 4 (i=3)
    const fewer = cloneSpans(dup).filter((s, i) => i !== 40);
    assert.match(diffTraces(dup, fewer).join('\n'), /expected 200 span\(s\), got 199/);
    const large = largeTraceJson(example, 10008);
    assert.equal(large.resourceSpans[0].scopeSpans[0].spans.length, 10008);
    assert.equal(large.resourceSpans[0].scopeSpans[0].spans[10007].spanId, '0000000000002718');
  });
});
