// GET /metrics after a known workload, through real clients: the OpenTelemetry JS SDK's OTLP exporters (gRPC over
// @grpc/grpc-js, HTTP protobuf, HTTP JSON), a Jaeger Remote Storage v1 writer (grpc-js), refused writes (over the
// size limit, undecodable, wrong Content-Type, an invalid span over gRPC), two flushes, and queries through Jaeger's
// /api, api_v3 and jaeger.storage.v2. The VALUES are checked against what the test did: spans and requests per door, refusals per reason, blocks and bytes flushed,
// object-store calls and bytes, queries per door and kind, the WAL's group commits, the head, build info and the
// process. docs/metrics.md describes every family. The exposition is read by a strict parser here:
// parse-prometheus-text-format (npm) fails on histograms whose _count and _sum lines come before their buckets,
// which the format allows and prometheus-cpp does.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { TbServer } from './lib/server.mjs';
import { TbClients } from './lib/clients.mjs';
import { V1Clients, jaegerSpanToProto } from './lib/storage_v1.mjs';
import { makeProvider, runWorkload } from './lib/sdk.mjs';
import { REPO_DIR } from './lib/proto.mjs';
import { timestampFromNanos } from './lib/fixtures.mjs';

const MAX_REQUEST = 256 * 1024;

// ---------------------------------------------------------------------------------------------------------------
// The exposition, parsed

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`);
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/;

function parseLabels(text, line) {
  const labels = {};
  let rest = text ?? '';
  while (rest.length > 0) {
    const m = rest.match(LABEL);
    assert.ok(m, `bad labels in: ${line}`);
    assert.ok(!(m[1] in labels), `label ${m[1]} twice in: ${line}`);
    labels[m[1]] = m[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    rest = rest.slice(m[0].length);
  }
  return labels;
}

/**
 * Prometheus text format 0.0.4 → Map name → {name, help, type, metrics}; counters and gauges as {labels, value},
 * histograms as {labels, buckets: {le: n}, count, sum}. Fails on anything out of place: a sample before its TYPE,
 * a sample of another family inside one, a bad value, a histogram series without count, sum or +Inf bucket;
 * and on what breaks the conventions: a counter not ending in _total, a duration not in seconds, no HELP.
 */
function parseExposition(text) {
  const families = new Map();
  let current = null;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = line.match(new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`));
    if (meta) {
      const [, what, name, rest] = meta;
      if (!families.has(name)) families.set(name, { name, help: '', type: '', metrics: [], byLabels: new Map() });
      current = families.get(name);
      if (what === 'HELP') current.help = rest;
      else current.type = rest.toUpperCase();
      continue;
    }
    assert.ok(!line.startsWith('#'), `unexpected comment: ${line}`);
    const m = line.match(SAMPLE);
    assert.ok(m, `not a sample line: ${line}`);
    const [, sampleName, labelText, valueText] = m;
    const value = Number(valueText.replace(/^\+Inf$/, 'Infinity'));
    assert.ok(!Number.isNaN(value), `bad value: ${line}`);
    assert.ok(current && current.type, `sample before its family's TYPE: ${line}`);
    const labels = parseLabels(labelText, line);
    if (current.type === 'HISTOGRAM') {
      const suffix = ['_bucket', '_sum', '_count'].find((x) => sampleName === current.name + x);
      assert.ok(suffix, `${sampleName} inside histogram ${current.name}`);
      const le = labels.le;
      delete labels.le;
      const key = JSON.stringify(labels);
      if (!current.byLabels.has(key)) {
        const series = { labels, buckets: {} };
        current.byLabels.set(key, series);
        current.metrics.push(series);
      }
      const series = current.byLabels.get(key);
      if (suffix === '_bucket') {
        assert.ok(le !== undefined, `bucket without le: ${line}`);
        series.buckets[le] = value;
      } else {
        series[suffix.slice(1)] = value;
      }
    } else {
      assert.equal(sampleName, current.name, `${sampleName} inside ${current.name}`);
      current.metrics.push({ labels, value });
    }
  }
  for (const f of families.values()) {
    assert.ok(f.help, `family ${f.name} has no HELP`);
    assert.ok(['COUNTER', 'GAUGE', 'HISTOGRAM'].includes(f.type), `family ${f.name} has type ${f.type}`);
    if (f.type === 'COUNTER') assert.match(f.name, /_total$/, `counter ${f.name} does not end in _total`);
    if (f.name.includes('duration')) assert.match(f.name, /_seconds$/, `duration ${f.name} is not in seconds`);
    for (const series of f.type === 'HISTOGRAM' ? f.metrics : []) {
      assert.ok(series.count !== undefined && series.sum !== undefined && series.buckets['+Inf'] !== undefined,
        `histogram ${f.name}${JSON.stringify(series.labels)} lacks count, sum or the +Inf bucket`);
    }
  }
  return families;
}

class Scrape {
  constructor(families) { this.families = families; }

  family(name) {
    const f = this.families.get(name);
    assert.ok(f, `no family ${name} in /metrics`);
    return f;
  }

  /** The samples of `name` whose labels include `labels`. */
  series(name, labels = {}) {
    return this.family(name).metrics.filter((m) => Object.entries(labels).every(([k, v]) => (m.labels ?? {})[k] === v));
  }

  /** The value of the one series of counter/gauge `name` whose labels are exactly `labels` (none missing, none more). */
  value(name, labels = {}) {
    const exact = this.family(name).metrics.filter((m) => {
      const own = m.labels ?? {};
      return Object.keys(own).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => own[k] === v);
    });
    assert.equal(exact.length, 1, `${name}${JSON.stringify(labels)}: ${exact.length} series`);
    return Number(exact[0].value);
  }

  /** Sum of the counter/gauge series of `name` whose labels include `labels`. */
  sum(name, labels = {}) {
    return this.series(name, labels).reduce((total, m) => total + Number(m.value), 0);
  }

  /** {count, sum} of the histogram series of `name` whose labels include `labels`, added up. */
  histogram(name, labels = {}) {
    const f = this.family(name);
    assert.equal(f.type, 'HISTOGRAM', `${name} is a ${f.type}`);
    let count = 0;
    let sum = 0;
    for (const m of this.series(name, labels)) {
      count += Number(m.count);
      sum += Number(m.sum);
      const inf = Number(m.buckets['+Inf']);
      assert.equal(inf, Number(m.count), `${name}: the +Inf bucket equals the count`);
      let previous = 0;
      for (const [le, n] of Object.entries(m.buckets).sort(([a], [b]) => Number(a) - Number(b))) {
        assert.ok(Number(n) >= previous, `${name}: bucket le=${le} is below the one before`);
        previous = Number(n);
      }
    }
    return { count, sum };
  }
}

async function scrape(server) {
  const res = await fetch(`${server.httpBase}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  assert.equal(res.status, 200, `GET /metrics → ${res.status}: ${text.slice(0, 300)}`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return new Scrape(parseExposition(text));
}

// ---------------------------------------------------------------------------------------------------------------
// The workload

/** Runs the SDK's web-shop workload through `exporter`; returns the spans and export requests that succeeded. */
async function exportThroughSdk(exporter, service) {
  const { provider, recording, memory } = makeProvider(exporter, { 'service.name': service });
  runWorkload(provider.getTracer('metrics-test', '1.0.0'), { requests: 20, errorEvery: 5 });
  await provider.forceFlush();
  const produced = memory.getFinishedSpans();
  await provider.shutdown();
  assert.deepEqual(recording.failures(), [], `${service}: every export succeeded`);
  assert.equal(recording.exportedSpans, produced.length, `${service}: every span was exported`);
  return {
    spans: recording.exportedSpans,
    requests: recording.results.length,
    traces: new Set(produced.map((s) => s.spanContext().traceId)).size,
    traceId: produced[0].spanContext().traceId,
  };
}

/** A Jaeger v1 span of its own trace. */
function v1Span(service, n) {
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  return jaegerSpanToProto({
    traceId: `ab${String(n).padStart(30, '0')}`,
    spanId: `cd${String(n).padStart(14, '0')}`,
    operationName: `v1-op-${n}`,
    references: [],
    startTimeUnixNano: nowNs - 5_000_000_000n + BigInt(n) * 1_000_000n,
    durationNanos: 2_000_000n,
    tags: [],
    logs: [],
    process: { serviceName: service, tags: [] },
  });
}

async function get(server, pathAndQuery) {
  const res = await fetch(`${server.httpBase}${pathAndQuery}`, { signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  assert.equal(res.status, 200, `GET ${pathAndQuery} → ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

const projectVersion = () => fs.readFileSync(path.join(REPO_DIR, 'CMakeLists.txt'), 'utf8')
  .match(/project\(tracebucket VERSION ([0-9.]+)/)[1];

function residentBytes(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  return Number(m[1]) * 1024;
}

// ---------------------------------------------------------------------------------------------------------------

describe('GET /metrics after a known workload', () => {
  const ctx = {};
  const sent = {};

  before(async () => {
    ctx.startedAt = Date.now() / 1000;
    ctx.server = await TbServer.start({ extraArgs: ['--no-background-flush', '--max-request-size', `${MAX_REQUEST}`] });
    ctx.clients = new TbClients(ctx.server.grpcAddress);
    ctx.v1 = new V1Clients(ctx.server.grpcAddress);
    const s = ctx.server;
    ctx.before = await scrape(s);

    // Accepted writes, per door.
    sent.grpc = await exportThroughSdk(new GrpcExporter({ url: `http://${s.grpcAddress}`, timeoutMillis: 20_000 }), 'metrics-grpc');
    sent.proto = await exportThroughSdk(new ProtoExporter({ url: `${s.httpBase}/v1/traces`, timeoutMillis: 20_000 }), 'metrics-proto');
    sent.json = await exportThroughSdk(new JsonExporter({ url: `${s.httpBase}/v1/traces`, timeoutMillis: 20_000 }), 'metrics-json');
    sent.v1 = 3;
    for (let n = 1; n <= sent.v1; n++) await ctx.v1.writeSpan(v1Span('metrics-v1', n));

    // Refused writes: over the size limit, undecodable JSON, an unsupported Content-Type (HTTP); a span whose trace
    // ID has 3 bytes (gRPC).
    const tooLarge = await s.postTraces(Buffer.alloc(MAX_REQUEST + 1024, 'x'), { contentType: 'application/x-protobuf' });
    assert.equal(tooLarge.status, 413, `over the limit: ${tooLarge.body}`);
    const garbage = await s.postTraces('{"resourceSpans": [', { contentType: 'application/json' });
    assert.equal(garbage.status, 400, `undecodable: ${garbage.body}`);
    const wrongType = await s.postTraces('hello', { contentType: 'text/plain' });
    assert.equal(wrongType.status, 415, `wrong Content-Type: ${wrongType.body}`);
    await assert.rejects(ctx.clients.export({
      resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: Buffer.from('abcdef', 'hex'), spanId: Buffer.alloc(8, 1), name: 'bad' }] }] }],
    }), (err) => err.code === 3, 'a 3-byte trace ID is INVALID_ARGUMENT');

    ctx.ingested = await scrape(s);

    // Flush 1, one more gRPC write, flush 2.
    ctx.blocksAfterFirst = await s.flush();
    sent.late = await exportThroughSdk(new GrpcExporter({ url: `http://${s.grpcAddress}`, timeoutMillis: 20_000 }), 'metrics-late');
    ctx.blocksAfterSecond = await s.flush();
    ctx.flushed = await scrape(s);

    // Queries, all served by blocks now: Jaeger's /api, api_v3, jaeger.storage.v2.
    const hour = 3_600_000;
    const nowUs = Date.now() * 1000;
    const apiSearch = await get(s, `/api/traces?service=metrics-grpc&start=${nowUs - hour * 1000}&end=${nowUs + hour * 1000}&limit=100`);
    assert.equal(apiSearch.data.length, sent.grpc.traces, '/api/traces finds every trace of the service');
    const apiTrace = await get(s, `/api/traces/${sent.proto.traceId}`);
    assert.equal(apiTrace.data.length, 1);
    await get(s, '/api/services');
    const min = new Date(Date.now() - hour).toISOString();
    const max = new Date(Date.now() + hour).toISOString();
    await get(s, `/api/v3/traces?query.serviceName=metrics-json&query.startTimeMin=${min}&query.startTimeMax=${max}`);
    await get(s, `/api/v3/traces/${sent.json.traceId}`);
    await get(s, '/api/v3/services');
    await get(s, '/api/v3/services');
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const ids = await ctx.clients.findTraceIds({
      serviceName: 'metrics-late', operationName: '', attributes: [],
      startTimeMin: timestampFromNanos(nowNs - 3_600_000_000_000n), startTimeMax: timestampFromNanos(nowNs + 3_600_000_000_000n),
      durationMin: { seconds: '0', nanos: 0 }, durationMax: { seconds: '0', nanos: 0 }, searchDepth: 100,
    });
    assert.equal(ids.traceIds.length, sent.late.traces);
    const traces = await ctx.clients.getTraces([sent.grpc.traceId]);
    assert.ok(traces.length > 0, 'GetTraces streams the trace');
    ctx.queried = await scrape(s);
  }, { timeout: 180_000 });

  after(async () => {
    ctx.clients?.close();
    ctx.v1?.close();
    if (ctx.server) {
      try { await ctx.server.stop(); } finally { await ctx.server.dispose(); }
    }
  }, { timeout: 60_000 });

  test('a fresh server counts nothing yet, and every labelled series is there from the start', () => {
    const m = ctx.before;
    for (const door of ['otlp_grpc', 'otlp_http', 'jaeger_v1']) {
      assert.equal(m.value('tracebucket_ingest_spans_total', { door, tenant: 'default' }), 0);
      for (const reason of ['limit', 'back_pressure', 'bad_input', 'unavailable'])
        assert.equal(m.value('tracebucket_ingest_refused_requests_total', { door, reason }), 0, `${door} ${reason}`);
    }
    assert.equal(m.value('tracebucket_flush_blocks_total'), 0);
    assert.equal(m.sum('tracebucket_query_requests_total'), 0);
    assert.equal(m.value('tracebucket_objstore_requests_total', { operation: 'put', status: 'unavailable' }), 0);
  });

  test('spans and requests accepted per door equal what the clients sent', () => {
    const m = ctx.ingested;
    const grpc = { door: 'otlp_grpc', tenant: 'default' };
    const http = { door: 'otlp_http', tenant: 'default' };
    const v1 = { door: 'jaeger_v1', tenant: 'default' };
    assert.equal(m.value('tracebucket_ingest_spans_total', grpc), sent.grpc.spans);
    assert.equal(m.value('tracebucket_ingest_spans_total', http), sent.proto.spans + sent.json.spans);
    assert.equal(m.value('tracebucket_ingest_spans_total', v1), sent.v1);
    // Requests answered = accepted + refused.
    assert.equal(m.value('tracebucket_ingest_requests_total', grpc), sent.grpc.requests + 1);
    assert.equal(m.value('tracebucket_ingest_requests_total', http), sent.proto.requests + sent.json.requests + 3);
    assert.equal(m.value('tracebucket_ingest_requests_total', v1), sent.v1);
    for (const labels of [grpc, http, v1]) {
      assert.ok(m.value('tracebucket_ingest_bytes_total', labels) > 0, `${labels.door}: bytes`);
      assert.equal(m.value('tracebucket_ingest_rejected_spans_total', labels), 0, `${labels.door}: no span over a limit`);
    }
    // Every HTTP request body counted was at least as long as one span's JSON or protobuf; no more than sent.
    assert.ok(m.value('tracebucket_ingest_bytes_total', http) < 10 * 1024 * 1024);
  });

  test('refusals are counted by door and reason', () => {
    const m = ctx.ingested;
    const expected = {
      otlp_http: { limit: 1, bad_input: 2, back_pressure: 0, unavailable: 0 },
      otlp_grpc: { limit: 0, bad_input: 1, back_pressure: 0, unavailable: 0 },
      jaeger_v1: { limit: 0, bad_input: 0, back_pressure: 0, unavailable: 0 },
    };
    for (const [door, reasons] of Object.entries(expected)) {
      for (const [reason, n] of Object.entries(reasons))
        assert.equal(m.value('tracebucket_ingest_refused_requests_total', { door, reason }), n, `${door} ${reason}`);
    }
  });

  test('the WAL synced one group-commit record per accepted request, and the head holds every span', () => {
    const m = ctx.ingested;
    const accepted = sent.grpc.requests + sent.proto.requests + sent.json.requests + sent.v1;
    const commits = m.histogram('tracebucket_wal_group_commit_records');
    assert.equal(commits.sum, accepted, 'records written by group commits');
    assert.ok(commits.count >= 1 && commits.count <= accepted, `${commits.count} group commits`);
    const fsyncs = m.histogram('tracebucket_wal_fsync_duration_seconds');
    assert.equal(fsyncs.count, commits.count, 'one fdatasync per group commit (wal.sync on)');
    assert.ok(fsyncs.sum > 0);
    assert.ok(m.value('tracebucket_wal_segments') >= 1);
    assert.ok(m.value('tracebucket_wal_size_bytes') > 0);
    const spans = sent.grpc.spans + sent.proto.spans + sent.json.spans + sent.v1;
    assert.equal(m.value('tracebucket_head_spans', { tenant: 'default' }), spans);
    assert.equal(m.value('tracebucket_head_traces', { tenant: 'default' }),
      sent.grpc.traces + sent.proto.traces + sent.json.traces + sent.v1);
    assert.ok(m.value('tracebucket_head_bytes', { tenant: 'default' }) > 0);
    assert.equal(m.value('tracebucket_blocks', { tenant: 'default' }), 0);
  });

  test('the flush counters went up by the two flushes done', () => {
    const m = ctx.flushed;
    assert.equal(ctx.blocksAfterFirst, 1);
    assert.equal(ctx.blocksAfterSecond, 2);
    assert.equal(m.value('tracebucket_flush_blocks_total'), 2);
    assert.equal(m.histogram('tracebucket_flush_duration_seconds').count, 2);
    assert.equal(m.value('tracebucket_flush_failures_total'), 0);
    const spans = sent.grpc.spans + sent.proto.spans + sent.json.spans + sent.v1 + sent.late.spans;
    assert.equal(m.value('tracebucket_flush_spans_total'), spans);
    assert.ok(m.value('tracebucket_flush_bytes_total') > 0);
    assert.equal(m.value('tracebucket_flush_pending'), 0);
    assert.equal(m.value('tracebucket_blocks', { tenant: 'default' }), 2);
    assert.equal(m.value('tracebucket_head_spans', { tenant: 'default' }), 0);
  });

  test('object-store calls by operation, and bytes out cover the blocks written', () => {
    const m = ctx.flushed;
    const puts = m.value('tracebucket_objstore_requests_total', { operation: 'put', status: 'ok' });
    assert.ok(puts >= 2 * 2, `${puts} PUTs for 2 blocks (each at least data and index)`);
    assert.ok(m.value('tracebucket_objstore_requests_total', { operation: 'list', status: 'ok' }) >= 1, 'the readiness probe LISTs');
    assert.ok(m.value('tracebucket_objstore_written_bytes_total') >= m.value('tracebucket_flush_bytes_total'),
      'bytes PUT ≥ bytes of the blocks flushed');
    const putLatency = m.histogram('tracebucket_objstore_request_duration_seconds', { operation: 'put' });
    assert.equal(putLatency.count, m.sum('tracebucket_objstore_requests_total', { operation: 'put' }));
    for (const op of ['put', 'get', 'head', 'list', 'delete']) {
      const failed = m.series('tracebucket_objstore_requests_total', { operation: op })
        .filter((x) => !['ok', 'not_found', 'already_exists'].includes(x.labels.status))
        .reduce((n, x) => n + Number(x.value), 0);
      assert.equal(failed, 0, `${op}: no failed calls`);
    }
    assert.equal(m.value('tracebucket_objstore_retries_total'), 0, 'file:// storage retries nothing');
  });

  test('queries per door and kind equal the queries made, and block reads are counted', () => {
    const m = ctx.queried;
    const expected = {
      jaeger_http: { find_traces: 1, get_trace: 1, services: 1 },
      api_v3: { find_traces: 1, get_trace: 1, services: 2 },
      grpc_v2: { find_trace_ids: 1, get_trace: 1 },
      grpc_v1: {},
    };
    for (const [door, kinds] of Object.entries(expected)) {
      for (const kind of ['get_trace', 'find_traces', 'find_trace_ids', 'services', 'operations', 'dependencies']) {
        const labels = { door, kind, tenant: 'default' };
        const n = kinds[kind] ?? 0;
        assert.equal(m.value('tracebucket_query_requests_total', labels), n, `${door} ${kind}`);
        assert.equal(m.value('tracebucket_query_errors_total', labels), 0, `${door} ${kind} errors`);
        assert.equal(m.histogram('tracebucket_query_duration_seconds', labels).count, n, `${door} ${kind} latencies`);
      }
    }
    assert.ok(m.value('tracebucket_query_blocks_read_total') >= 4, 'each trace read and search read a block');
    assert.ok(m.value('tracebucket_query_pages_read_total') >= 4);
    const fetched = m.value('tracebucket_query_read_bytes_total');
    assert.ok(fetched > 0, 'queries fetched block bytes');
    assert.ok(m.value('tracebucket_objstore_read_bytes_total') >= fetched, 'object-store bytes in ≥ what queries fetched');
    assert.ok(m.value('tracebucket_objstore_requests_total', { operation: 'get', status: 'ok' }) > 0);
    const hits = m.value('tracebucket_cache_hits_total', { tier: 'memory' });
    const misses = m.value('tracebucket_cache_misses_total', { tier: 'memory' });
    assert.ok(misses > 0 && hits + misses >= m.value('tracebucket_query_pages_read_total'), `memory cache: ${hits} hits, ${misses} misses`);
    assert.ok(m.value('tracebucket_cache_bytes', { tier: 'memory' }) > 0);
    assert.equal(m.value('tracebucket_cache_hits_total', { tier: 'disk' }), 0, 'no disk tier with file:// storage');
  });

  test('build info and process metrics describe this process', () => {
    const m = ctx.queried;
    const build = m.family('tracebucket_build_info').metrics;
    assert.equal(build.length, 1);
    assert.equal(Number(build[0].value), 1);
    assert.equal(build[0].labels.version, projectVersion());
    assert.match(build[0].labels.commit, /^([0-9a-f]{12}|unknown)$/);
    const start = m.value('process_start_time_seconds');
    assert.ok(Math.abs(start - ctx.startedAt) < 30, `start time ${start}, test started the server at ${ctx.startedAt}`);
    const rss = m.value('process_resident_memory_bytes');
    const procRss = residentBytes(ctx.server.child.pid);
    assert.ok(rss > procRss / 2 && rss < procRss * 2, `resident ${rss} vs /proc ${procRss}`);
    assert.ok(m.value('process_virtual_memory_bytes') >= rss);
    assert.ok(m.value('process_cpu_seconds_total') > 0);
    assert.ok(m.value('process_open_fds') > 3);
    assert.ok(m.value('process_max_fds') >= m.value('process_open_fds'));
  });
});

describe('metrics.enabled: false', () => {
  test('GET /metrics is a 404 that says why, and the server still takes writes', async () => {
    const server = await TbServer.start({ env: { TRACEBUCKET_METRICS_ENABLED: 'false' } });
    try {
      const res = await fetch(`${server.httpBase}/metrics`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(res.status, 404);
      assert.match(await res.text(), /metrics are disabled/);
      const nowNs = BigInt(Date.now()) * 1_000_000n;
      const r = await server.postJson(JSON.stringify({
        resourceSpans: [{
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'off' } }] },
          scopeSpans: [{ spans: [{ traceId: '0102030405060708090a0b0c0d0e0f10', spanId: '0102030405060708', name: 'x',
            startTimeUnixNano: String(nowNs), endTimeUnixNano: String(nowNs + 1000n) }] }],
        }],
      }));
      assert.equal(r.status, 200);
    } finally {
      await server.stop();
      await server.dispose();
    }
  });
});
