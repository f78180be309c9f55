// Jaeger v2 as an OpenTelemetry Collector in front of tracebucket: the `jaeger` binary of the Jaeger module (v1.75.0)
// runs a pipeline written here — otlp receiver → batch → otlp exporter (gzip, sending_queue, retry_on_failure) to
// tracebucket's gRPC port — and Jaeger's tracegen pushes more spans through it than tracebucket's head budget holds.
// tracebucket runs with a small --head-memory-budget and --no-background-flush, and the test flushes on a timer
// (POST /admin/flush), so writes are refused with RESOURCE_EXHAUSTED + RetryInfo until the next flush makes room.
//   * Retries absorb the back-pressure: the collector logs retries of RESOURCE_EXHAUSTED, counts no failed or dropped
//     span, every span it reports as sent (otelcol_exporter_sent_spans) is in tracebucket, and that is every span
//     tracegen sent, each trace whole.
//   * When retries run out (a short max_elapsed_time and no flush), the collector drops the refused batches: it counts
//     them as send_failed, logs "Dropping data", and tracebucket holds exactly the spans it acknowledged, none of the
//     dropped ones.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TbServer } from '../interop/lib/server.mjs';
import { Program, fetchJaeger, freePorts, getJson, httpStatus, programPath, quietTracingEnv } from './lib/jaeger_programs.mjs';
import { TracegenPlan, runTracegen } from './lib/tracegen.mjs';
import { jaegerSpanCounts } from './lib/jaeger_api.mjs';

const fetched = await fetchJaeger(['jaeger', 'tracegen']);

const HEAD_BUDGET = '4MiB';
const FLUSH_EVERY_MS = 1000;
const DRAIN_TIMEOUT_MS = 120_000;

/** The collector's configuration: our pipeline, every port explicit. */
function collectorConfig(ports, tbGrpc, { maxElapsed }) {
  return `# written by tests/jaeger/collector.test.mjs
extensions:
  healthcheckv2:
    use_v2: false
    endpoint: 127.0.0.1:${ports.health}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:${ports.otlpGrpc}
processors:
  batch:
    send_batch_size: 1000
    timeout: 200ms
exporters:
  otlp:
    endpoint: ${tbGrpc}
    tls:
      insecure: true
    compression: gzip
    timeout: 10s
    sending_queue:
      enabled: true
      num_consumers: 4
      queue_size: 10000
    retry_on_failure:
      enabled: true
      initial_interval: 100ms
      max_interval: 2s
      max_elapsed_time: ${maxElapsed}
service:
  extensions: [healthcheckv2]
  telemetry:
    logs:
      level: info
    metrics:
      level: detailed
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: ${ports.metrics}
    traces:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp]
`;
}

/** Sums a Prometheus metric (with or without the _total suffix) over the series whose labels contain `labels`. */
function metricSum(text, name, labels = {}) {
  let sum = 0;
  const re = new RegExp(`^${name}(?:_total)?(\\{[^}]*\\})?\\s+(\\S+)`, 'gm');
  for (const m of text.matchAll(re)) {
    const labelText = m[1] ?? '';
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) sum += Number(m[2]);
  }
  return sum;
}

class Collector {
  static async start(dir, tb, opts) {
    const ports = await freePorts(['health', 'otlpGrpc', 'metrics', 'dead'], [tb.grpcPort, tb.httpPort]);
    const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-collector-'));
    const configFile = path.join(configDir, 'collector.yaml');
    fs.writeFileSync(configFile, collectorConfig(ports, tb.grpcAddress, opts));
    const program = new Program('jaeger (collector)', programPath(dir, 'jaeger'), ['--config', configFile],
      quietTracingEnv(`http://127.0.0.1:${ports.dead}`));
    const c = new Collector(program, ports, configDir);
    await program.waitUntil(async () => (await httpStatus(`http://127.0.0.1:${ports.health}/`)) === 200, { what: 'healthy' });
    return c;
  }

  constructor(program, ports, configDir) { Object.assign(this, { program, ports, configDir }); }

  get otlpEndpoint() { return `http://127.0.0.1:${this.ports.otlpGrpc}`; }

  /** The span counters of our pipeline, from the collector's own metrics. */
  async counters() {
    const res = await fetch(`http://127.0.0.1:${this.ports.metrics}/metrics`, { signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    const exporter = { exporter: 'otlp' };
    return {
      accepted: metricSum(text, 'otelcol_receiver_accepted_spans', { receiver: 'otlp' }),
      refused: metricSum(text, 'otelcol_receiver_refused_spans', { receiver: 'otlp' }),
      sent: metricSum(text, 'otelcol_exporter_sent_spans', exporter),
      sendFailed: metricSum(text, 'otelcol_exporter_send_failed_spans', exporter),
      enqueueFailed: metricSum(text, 'otelcol_exporter_enqueue_failed_spans', exporter),
      queueSize: metricSum(text, 'otelcol_exporter_queue_size', exporter),
    };
  }

  /** Waits until every span the receiver accepted has left the exporter (sent or failed) and the queue is empty. */
  async drained(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    let c;
    while (Date.now() < deadline) {
      c = await this.counters();
      if (c.accepted > 0 && c.sent + c.sendFailed + c.enqueueFailed === c.accepted && c.queueSize === 0) return c;
      await sleep(250);
    }
    throw new Error(`the collector did not drain within ${timeoutMs} ms: ${JSON.stringify(c)}\n${this.program.tail()}`);
  }

  /** Log lines of the exporter's retries after RESOURCE_EXHAUSTED, and of the batches it dropped. */
  logSummary() {
    const lines = this.program.output.split('\n');
    const retries = lines.filter((l) => l.includes('Will retry the request after interval'));
    return {
      retries: retries.length,
      retriesOfResourceExhausted: retries.filter((l) => /ResourceExhausted/.test(l)).length,
      // "not retryable error" in a dropped batch's error: the exporter took the refusal as permanent
      dropped: lines.filter((l) => l.includes('Dropping data')),
    };
  }

  async stop() {
    const exit = await this.program.stop();
    fs.rmSync(this.configDir, { recursive: true, force: true });
    return exit;
  }
}

/** POST /admin/flush every `everyMs` until stopped; counts flushes. */
function startFlusher(tb, everyMs) {
  const state = { stop: false, flushes: 0, errors: [] };
  state.done = (async () => {
    while (!state.stop) {
      await sleep(everyMs);
      if (state.stop) break;
      try { await tb.flush(); state.flushes++; } catch (e) { state.errors.push(e.message); }
    }
  })();
  return state;
}

/** Every trace of tracegen's services in tracebucket (through its /api), counted; asserts each one whole if asked. */
async function heldSpans(tb, plan, { wholeTraces }) {
  let spans = 0;
  let traces = 0;
  for (const service of plan.serviceNames) {
    const params = new URLSearchParams({ service, limit: '10000', lookback: '1h' });
    const { data } = await getJson(`${tb.httpBase}/api/traces?${params}`, { timeoutMs: 60_000 });
    traces += data.length;
    spans += jaegerSpanCounts(data).total;
    if (wholeTraces) {
      for (const t of data) assert.equal(t.spans.length, plan.spansPerTrace, `trace ${t.traceID} of ${service} is not whole`);
    }
  }
  return { spans, traces };
}

describe('Jaeger v2 as an OpenTelemetry Collector in front of tracebucket', { skip: fetched.error }, () => {
  test('retries absorb back-pressure: every span sent is stored, none failed or dropped', async (t) => {
    // 3 workers × 600 traces × 10 spans (11 attributes on each child): 18,000 spans, several head budgets' worth.
    const plan = new TracegenPlan({ workers: 3, traces: 600, services: 3, spans: 9, attrs: 11 });
    const tb = await TbServer.start({ extraArgs: ['--head-memory-budget', HEAD_BUDGET, '--no-background-flush'] });
    let collector;
    let flusher;
    try {
      collector = await Collector.start(fetched.dir, tb, { maxElapsed: '120s' });
      flusher = startFlusher(tb, FLUSH_EVERY_MS);
      const t0 = Date.now();
      await runTracegen(fetched.dir, plan, { exporter: 'otlp-grpc', endpoint: collector.otlpEndpoint });
      const sentBy = Date.now() - t0;
      const c = await collector.drained(DRAIN_TIMEOUT_MS);
      flusher.stop = true;
      await flusher.done;
      const logs = collector.logSummary();
      t.diagnostic(`tracegen done in ${sentBy} ms, collector drained after ${Date.now() - t0} ms with ${flusher.flushes} flushes: `
        + `${JSON.stringify(c)}; ${logs.retries} retries (${logs.retriesOfResourceExhausted} of RESOURCE_EXHAUSTED)`);

      assert.deepEqual(flusher.errors, [], 'POST /admin/flush failed');
      assert.equal(c.accepted, plan.totalSpans, 'the collector received every span tracegen sent');
      assert.equal(c.refused, 0, 'the collector refused spans from tracegen');
      assert.deepEqual(logs.dropped.slice(0, 3), [], 'the collector dropped data (a refusal taken as permanent: RetryInfo missing?)');
      assert.ok(logs.retriesOfResourceExhausted > 0,
        `tracebucket never pushed back (no retried RESOURCE_EXHAUSTED): the load did not exceed the ${HEAD_BUDGET} head`);
      assert.equal(c.sendFailed, 0, 'otelcol_exporter_send_failed_spans');
      assert.equal(c.enqueueFailed, 0, 'otelcol_exporter_enqueue_failed_spans');
      assert.equal(c.sent, plan.totalSpans, 'otelcol_exporter_sent_spans: every span acknowledged by tracebucket');

      const held = await heldSpans(tb, plan, { wholeTraces: true });
      assert.equal(held.spans, c.sent, 'tracebucket holds exactly the spans the collector reports as sent');
      assert.equal(held.traces, plan.totalTraces, 'every trace tracegen sent, whole');
    } finally {
      if (flusher) { flusher.stop = true; await flusher.done; }
      await collector?.stop();
      await tb.dispose();
    }
  });

  test('when retries run out the collector drops the refused batches; tracebucket holds exactly what it acknowledged', async (t) => {
    const plan = new TracegenPlan({ workers: 2, traces: 400, services: 2, spans: 9, attrs: 11 });
    const tb = await TbServer.start({ extraArgs: ['--head-memory-budget', HEAD_BUDGET, '--no-background-flush'] });
    let collector;
    try {
      // No flush while tracegen runs: once the head is full every export is refused, and after 2 s of retries the
      // collector gives up on that batch.
      collector = await Collector.start(fetched.dir, tb, { maxElapsed: '2s' });
      await runTracegen(fetched.dir, plan, { exporter: 'otlp-grpc', endpoint: collector.otlpEndpoint });
      const c = await collector.drained(DRAIN_TIMEOUT_MS);
      const logs = collector.logSummary();
      const droppedItems = logs.dropped.reduce((n, l) => n + Number(/"dropped_items":\s*(\d+)|dropped_items\s+(\d+)/.exec(l)?.slice(1).find(Boolean) ?? 0), 0);
      t.diagnostic(`${JSON.stringify(c)}; ${logs.retriesOfResourceExhausted} retries of RESOURCE_EXHAUSTED, `
        + `${logs.dropped.length} "Dropping data" log lines for ${droppedItems} spans`);

      assert.equal(c.accepted, plan.totalSpans, 'the collector received every span tracegen sent');
      assert.ok(c.sendFailed > 0, 'with the head full and no flush, some batches must run out of retries');
      assert.ok(c.sent > 0, 'the head took spans before it was full');
      assert.equal(c.sent + c.sendFailed, c.accepted, 'every span is either sent or counted as failed');
      assert.equal(droppedItems, c.sendFailed, 'the "Dropping data" log lines name every failed span');
      assert.deepEqual(logs.dropped.filter((l) => /not retryable/.test(l)), [], 'refusals were taken as permanent before their retries ran out');

      const held = await heldSpans(tb, plan, { wholeTraces: false });
      assert.equal(held.spans, c.sent, 'tracebucket holds the acknowledged spans and none of the dropped ones');
      // A flush makes room again: the store works on after the drops.
      await tb.flush();
      const after = await fetch(`${tb.httpBase}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(after.status, 200, 'a write after the flush');
    } finally {
      await collector?.stop();
      await tb.dispose();
    }
  });
});
