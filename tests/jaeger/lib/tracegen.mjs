// What Jaeger's tracegen (cmd/tracegen, internal/tracegen of the Jaeger module) sends, derived from its rules so that
// a test can check every trace it reads back. With `-pause 0s` its output is fully determined by the flags, except for
// IDs, wall-clock start times and the host's resource attributes:
//   * `-workers W` goroutines each send `-traces T` traces; a worker's trace number i goes to service i mod S of
//     `-services S`, named `<-service>-%02d` (just `<-service>` when S is 1); every service's tracer (scope) is named
//     after `-service`.
//   * A trace is one root span "lets-go" (kind server, attributes peer.service=tracegen-server and
//     peer.host.ipv4=1.1.1.1) and `-spans C` children "child-span-%02d" (kind client, children of the root).
//   * Child c starts c × 123 µs after the root and lasts 123 µs; the root lasts C × 123 µs.
//   * Each child has `-attrs A` string attributes attr_%02d=val_%02d. A worker counts attributes across its traces:
//     attribute number n (n = (i·C + c)·A + a) has key number n mod `-attr-keys` and value number n mod `-attr-values`.
//     So a trace's first attribute value names its trace number when i·C·A stays below `-attr-values`.
import assert from 'node:assert/strict';
import { spanTags } from './jaeger_api.mjs';
import { Program, programPath } from './jaeger_programs.mjs';

export const FAKE_SPAN_MICROS = 123;
const pad2 = (n) => String(n).padStart(2, '0');

export class TracegenPlan {
  /** @param {{workers: number, traces: number, services: number, spans: number, attrs: number, attrKeys?: number, attrValues?: number, service?: string}} p */
  constructor({ workers, traces, services, spans, attrs, attrKeys = 97, attrValues = 1000, service = 'tracegen' }) {
    Object.assign(this, { workers, traces, services, spans, attrs, attrKeys, attrValues, service });
  }

  /** tracegen's command line for this plan (deterministic: pause 0, so fake durations and explicit timestamps). */
  args(exporter) {
    return ['-workers', this.workers, '-traces', this.traces, '-services', this.services, '-spans', this.spans,
      '-attrs', this.attrs, '-attr-keys', this.attrKeys, '-attr-values', this.attrValues, '-service', this.service,
      '-pause', '0s', '-trace-exporter', exporter].map(String);
  }

  serviceOf(traceNo) { return this.services > 1 ? `${this.service}-${pad2(traceNo % this.services)}` : this.service; }
  get serviceNames() { return [...new Set(Array.from({ length: Math.min(this.services, this.traces) }, (_, i) => this.serviceOf(i)))].sort(); }
  get totalTraces() { return this.workers * this.traces; }
  get spansPerTrace() { return 1 + this.spans; }
  get totalSpans() { return this.totalTraces * this.spansPerTrace; }

  /** Traces per service (all workers). */
  tracesPerService() {
    const counts = {};
    for (let i = 0; i < this.traces; i++) counts[this.serviceOf(i)] = (counts[this.serviceOf(i)] ?? 0) + this.workers;
    return counts;
  }

  /** Spans per service and operation name: {service: {operation: count}}. */
  spansPerOperation() {
    const out = {};
    for (const [service, traces] of Object.entries(this.tracesPerService())) {
      out[service] = { 'lets-go': traces };
      for (let c = 0; c < this.spans; c++) out[service][`child-span-${pad2(c)}`] = traces;
    }
    return out;
  }

  /** The attributes of child c of trace number i, as [key, value] pairs in order. */
  childAttributes(traceNo, c) {
    const out = [];
    for (let a = 0; a < this.attrs; a++) {
      const n = (traceNo * this.spans + c) * this.attrs + a;
      out.push([`attr_${pad2(n % this.attrKeys)}`, `val_${pad2(n % this.attrValues)}`]);
    }
    return out;
  }

  /** The trace number whose first child's first attribute value is `value` (val_NN), or null if ambiguous. */
  traceNoOf(value) {
    if (this.traces * this.spans * this.attrs > this.attrValues) return null;
    const m = /^val_(\d+)$/.exec(value);
    if (!m) return null;
    const n = Number(m[1]);
    return n % (this.spans * this.attrs) === 0 ? n / (this.spans * this.attrs) : null;
  }

  /**
   * The spans of trace number i, in start order, as the Jaeger model sees them: operation name, kind, start offset
   * from the root (µs), duration (µs), whether it is the root, and the span's own attributes.
   */
  expectedSpans(traceNo) {
    const root = {
      operationName: 'lets-go', kind: 'server', offsetMicros: 0, durationMicros: this.spans * FAKE_SPAN_MICROS, root: true,
      attributes: [['peer.service', 'tracegen-server'], ['peer.host.ipv4', '1.1.1.1']],
    };
    const children = Array.from({ length: this.spans }, (_, c) => ({
      operationName: `child-span-${pad2(c)}`, kind: 'client', offsetMicros: c * FAKE_SPAN_MICROS, durationMicros: FAKE_SPAN_MICROS,
      root: false, attributes: this.childAttributes(traceNo, c),
    }));
    return [root, ...children];
  }
}

/**
 * Runs tracegen to completion (it flushes its exporters on exit) and asserts exit code 0.
 * @param {string} dir module copy holding cmd/tracegen/tracegen
 * @param {TracegenPlan} plan
 * @param {{exporter: string, endpoint: string, timeoutMs?: number}} how exporter otlp-http | otlp-grpc; endpoint
 *   http://host:port of the OTLP receiver
 */
export async function runTracegen(dir, plan, { exporter, endpoint, timeoutMs = 120_000 }) {
  const program = new Program('tracegen', programPath(dir, 'tracegen'), plan.args(exporter), {
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_TRACES_SAMPLER: 'always_on',
  });
  const exit = await program.finished(timeoutMs);
  if (exit.code !== 0) throw new Error(`tracegen exited with ${JSON.stringify(exit)}:\n${program.tail()}`);
  return program;
}

/**
 * Checks one trace in Jaeger UI JSON (as stored: not adjusted) against `plan`'s rules; returns its trace number.
 * The Jaeger model adds a span.kind tag for the kind, and the resource's attributes are the process's tags
 * (service.name becomes serviceName); `derivedTags` are the further tags the writing Jaeger derives from OTLP fields
 * (e.g. the tracer's name), which differ between Jaeger versions.
 */
export function checkTracegenTrace(plan, trace, service, derivedTags) {
  const where = `trace ${trace.traceID} of ${service}`;
  assert.equal(trace.spans.length, plan.spansPerTrace, `${where}: spans`);
  const spans = [...trace.spans].sort((a, b) => a.startTime - b.startTime || (a.references.length - b.references.length));
  const root = spans[0];
  const firstChild = spans.find((s) => s.operationName === 'child-span-00');
  assert.ok(firstChild, `${where}: no child-span-00`);
  const firstValue = Object.values(spanTags(firstChild)).find((v) => String(v).startsWith('val_'));
  const traceNo = plan.traceNoOf(firstValue);
  assert.notEqual(traceNo, null, `${where}: child-span-00's first attribute value ${firstValue} names no trace number`);
  assert.equal(plan.serviceOf(traceNo), service, `${where}: trace number ${traceNo} belongs to another service`);

  const expected = plan.expectedSpans(traceNo);
  const byOperation = new Map(spans.map((s) => [s.operationName, s]));
  assert.equal(byOperation.size, expected.length, `${where}: operation names repeat`);
  for (const want of expected) {
    const span = byOperation.get(want.operationName);
    const what = `${where}, ${want.operationName}`;
    assert.ok(span, `${what}: missing`);
    assert.equal(span.traceID, trace.traceID, what);
    assert.equal(span.startTime - root.startTime, want.offsetMicros, `${what}: start offset (µs)`);
    assert.equal(span.duration, want.durationMicros, `${what}: duration (µs)`);
    assert.equal(span.flags ?? 0, 0, `${what}: flags (tracebucket does not keep Jaeger's flags)`);
    if (want.root) {
      assert.deepEqual(span.references, [], `${what}: the root has no references`);
    } else {
      assert.deepEqual(span.references, [{ refType: 'CHILD_OF', traceID: trace.traceID, spanID: root.spanID }], `${what}: parent`);
    }
    assert.deepEqual(spanTags(span), { ...Object.fromEntries(want.attributes), 'span.kind': want.kind, ...derivedTags },
      `${what}: tags`);
    assert.deepEqual(span.logs, [], `${what}: logs`);
    const process = trace.processes[span.processID];
    assert.ok(process, `${what}: process ${span.processID} missing from the trace's processes`);
    assert.equal(process.serviceName, service, `${what}: service`);
    const processTags = spanTags(process);
    for (const key of ['host.name', 'os.type', 'telemetry.sdk.language', 'telemetry.sdk.name', 'telemetry.sdk.version']) {
      assert.ok(key in processTags, `${what}: process tag ${key} missing: ${JSON.stringify(processTags)}`);
    }
    assert.equal(processTags['telemetry.sdk.language'], 'go', what);
  }
  return traceNo;
}
