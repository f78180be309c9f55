// OpenTelemetry JS SDK helpers: a provider whose spans go both to an OTLP exporter (under test) and to an
// in-memory exporter (the expectation), a realistic workload, and ReadableSpan → canonical span conversion.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';

/** Wraps an exporter and records every export result, so a failed export fails the test instead of vanishing. */
export class RecordingExporter {
  constructor(inner) { this.inner = inner; this.results = []; this.exportedSpans = 0; }
  export(spans, resultCallback) {
    this.inner.export(spans, (result) => {
      this.results.push({ code: result.code, error: result.error, spans: spans.length });
      if (result.code === 0) this.exportedSpans += spans.length;
      resultCallback(result);
    });
  }
  shutdown() { return this.inner.shutdown(); }
  forceFlush() { return this.inner.forceFlush ? this.inner.forceFlush() : Promise.resolve(); }
  failures() { return this.results.filter((r) => r.code !== 0); }
}

/**
 * A provider with a BatchSpanProcessor → `exporter` (wrapped in a RecordingExporter) and a SimpleSpanProcessor →
 * InMemorySpanExporter holding exactly what the SDK produced.
 */
export function makeProvider(exporter, resourceAttributes) {
  const recording = new RecordingExporter(exporter);
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes(resourceAttributes),
    spanProcessors: [
      new BatchSpanProcessor(recording, { maxExportBatchSize: 64, scheduledDelayMillis: 50, maxQueueSize: 10_000 }),
      new SimpleSpanProcessor(memory),
    ],
  });
  return { provider, recording, memory };
}

/**
 * A small web-shop request per trace: SERVER root → CLIENT db query (event, typed attributes) → PRODUCER publish
 * (link to the query) → INTERNAL serialise (error status + exception event on failing requests); and a CONSUMER
 * span in its own trace linked to the producer.
 * @returns {{checkoutTraceId: string, errorTraceIds: string[], traceIds: string[]}}
 */
export function runWorkload(tracer, { requests = 20, errorEvery = 5, t0Ms = Date.now() - 5_000 } = {}) {
  const traceIds = [];
  const errorTraceIds = [];
  let checkoutTraceId;
  for (let i = 0; i < requests; i++) {
    const base = t0Ms + i * 10; // ms; explicit times keep the data deterministic
    const failing = errorEvery > 0 && i % errorEvery === errorEvery - 1;
    const route = i === 0 ? '/checkout' : `/items/${i % 3}`;
    const root = tracer.startSpan(`GET ${route}`, {
      kind: SpanKind.SERVER,
      startTime: base,
      attributes: {
        'http.request.method': 'GET',
        'http.route': route,
        'http.response.status_code': failing ? 500 : 200,
        'request.seq': i,
        'request.sampled_ratio': 0.25,
        'user.premium': i % 2 === 0,
        'request.tags': ['web', `shard-${i % 4}`],
      },
    });
    const rootCtx = trace.setSpan(ROOT_CONTEXT, root);
    const db = tracer.startSpan('SELECT orders', {
      kind: SpanKind.CLIENT,
      startTime: base + 1,
      attributes: { 'db.system': 'postgresql', 'db.rows': 42 + i, 'db.latency_ratio': 1.5, 'db.cached': false, 'db.tables': ['orders', 'users'] },
    }, rootCtx);
    db.addEvent('query.sent', { 'db.statement.length': 120, 'db.retry': false }, base + 2);
    db.addEvent('rows.received', { 'db.rows': 42 + i }, base + 3);
    db.end(base + 4);
    const publish = tracer.startSpan('orders publish', {
      kind: SpanKind.PRODUCER,
      startTime: base + 5,
      links: [{ context: db.spanContext(), attributes: { 'link.reason': 'caused-by', 'link.weight': 2 } }],
      attributes: { 'messaging.system': 'kafka', 'messaging.destination.name': 'orders' },
    }, rootCtx);
    const ser = tracer.startSpan('serialize', { kind: SpanKind.INTERNAL, startTime: base + 6 }, trace.setSpan(rootCtx, publish));
    if (failing) {
      const err = new Error(`serialization failed for request ${i}`);
      err.name = 'SerializationError';
      ser.recordException(err, base + 7);
      ser.setStatus({ code: SpanStatusCode.ERROR, message: `serialization failed for request ${i}` });
    } else {
      ser.setStatus({ code: SpanStatusCode.OK });
    }
    ser.end(base + 8);
    publish.end(base + 9);
    if (failing) root.setStatus({ code: SpanStatusCode.ERROR, message: 'HTTP 500' });
    root.end(base + 10);
    const consumer = tracer.startSpan('orders process', {
      kind: SpanKind.CONSUMER,
      root: true,
      startTime: base + 11,
      links: [{ context: publish.spanContext() }],
      attributes: { 'messaging.system': 'kafka', 'messaging.consumer.group.name': 'billing' },
    });
    consumer.end(base + 12);
    const id = root.spanContext().traceId;
    traceIds.push(id, consumer.spanContext().traceId);
    if (failing) errorTraceIds.push(id);
    if (i === 0) checkoutTraceId = id;
  }
  return { checkoutTraceId, errorTraceIds, traceIds };
}

// ---------------------------------------------------------------------------------------------------------------
// ReadableSpan → canonical span (lib/canonical.mjs form)

const hrToNanos = (t) => (BigInt(t[0]) * 1_000_000_000n + BigInt(t[1])).toString();

function value(v) {
  if (typeof v === 'string') return { t: 'string', v };
  if (typeof v === 'boolean') return { t: 'bool', v };
  if (typeof v === 'number') return Number.isInteger(v) ? { t: 'int', v: String(v) } : { t: 'double', v };
  if (v instanceof Uint8Array) return { t: 'bytes', v: Buffer.from(v).toString('base64') };
  if (Array.isArray(v)) return { t: 'array', v: v.map((x) => (x === null || x === undefined ? { t: 'empty', v: null } : value(x))) };
  if (v && typeof v === 'object') return { t: 'kvlist', v: attrs(v) };
  return { t: 'empty', v: null };
}

function attrs(obj) {
  return Object.keys(obj ?? {}).sort().map((key) => ({ key, value: value(obj[key]) }));
}

const spanFlags = (traceFlags, isRemote) => ((traceFlags & 0xff) | 0x100 | (isRemote ? 0x200 : 0)) >>> 0;

/** Canonical spans of ReadableSpans (what the SDK handed its exporters). */
export function spansFromSdk(readableSpans) {
  return readableSpans.map((s) => {
    const sc = s.spanContext();
    const scope = s.instrumentationScope;
    return {
      traceId: sc.traceId,
      spanId: sc.spanId,
      parentSpanId: s.parentSpanContext?.spanId ?? '',
      traceState: sc.traceState?.serialize() ?? '',
      name: s.name,
      kind: s.kind + 1, // API SpanKind INTERNAL=0 … ; OTLP SPAN_KIND_INTERNAL=1 …
      startTimeUnixNano: hrToNanos(s.startTime),
      endTimeUnixNano: hrToNanos(s.endTime),
      attributes: attrs(s.attributes),
      droppedAttributesCount: s.droppedAttributesCount ?? 0,
      events: s.events.map((e) => ({
        name: e.name, timeUnixNano: hrToNanos(e.time), attributes: attrs(e.attributes),
        droppedAttributesCount: e.droppedAttributesCount ?? 0,
      })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
        || (BigInt(a.timeUnixNano) < BigInt(b.timeUnixNano) ? -1 : BigInt(a.timeUnixNano) > BigInt(b.timeUnixNano) ? 1 : 0)),
      droppedEventsCount: s.droppedEventsCount ?? 0,
      links: s.links.map((l) => ({
        traceId: l.context.traceId, spanId: l.context.spanId, traceState: l.context.traceState?.serialize() ?? '',
        attributes: attrs(l.attributes), droppedAttributesCount: l.droppedAttributesCount ?? 0,
        flags: spanFlags(l.context.traceFlags, l.context.isRemote),
      })).sort((a, b) => (a.traceId + a.spanId < b.traceId + b.spanId ? -1 : a.traceId + a.spanId > b.traceId + b.spanId ? 1 : 0)),
      droppedLinksCount: s.droppedLinksCount ?? 0,
      status: { code: s.status.code, message: s.status.message ?? '' },
      flags: spanFlags(sc.traceFlags, s.parentSpanContext?.isRemote),
      resource: { attributes: attrs(s.resource.attributes), droppedAttributesCount: 0, schemaUrl: s.resource.schemaUrl ?? '' },
      scope: { name: scope.name, version: scope.version ?? '', attributes: [], droppedAttributesCount: 0, schemaUrl: scope.schemaUrl ?? '' },
    };
  });
}
