// The test side's own OTLP → Jaeger span mapping, used to derive the expected answers of the Jaeger-model doors
// (Remote Storage API v1, the /api JSON API) from OTLP fixtures. Written from the standard mapping as
// docs/jaeger-semantics.md §6.5 describes it (opentelemetry-collector-contrib's translator, which Jaeger applies to stored
// OTLP), independently of the server's C++ converter, so that a mistake in one shows up against the other.
//
// Plain span shape (shared by every Jaeger-model suite):
//   { traceId (32 lowercase hex), spanId (16 hex), operationName, flags (number),
//     references: [{ refType: 'CHILD_OF'|'FOLLOWS_FROM', traceId, spanId }],
//     startTimeUnixNano, durationNanos (decimal strings),
//     tags: [{ key, type: 'string'|'bool'|'int64'|'float64'|'binary', value }],
//     logs: [{ timestampUnixNano (decimal string), fields: [tag...] }],
//     process: { serviceName, tags: [tag...] }, warnings: [string...] }
// Tag values: string → string, bool → boolean, int64 → decimal string, float64 → number, binary → base64 string.
import { spansFromOtlpJson, stableJson } from './canonical.mjs';

const NO_SERVICE_NAME = 'OTLPResourceNoServiceName';
const WARNINGS_ATTRIBUTE = '@jaeger@warnings';
const EVENT_NAME_FIELD = 'event';
const SPAN_KIND_TAG_VALUES = ['', 'internal', 'server', 'client', 'producer', 'consumer'];
const STATUS_OK = 1;
const STATUS_ERROR = 2;
const ZERO_SPAN_ID = '0000000000000000';

// ---------------------------------------------------------------------------------------------------------------
// Values

/** A canonical value (lib/canonical.mjs) as Go's json.Marshal prints pdata's AsRaw() of it (maps: keys sorted). */
function rawJson(v) {
  switch (v.t) {
    case 'string': return JSON.stringify(v.v);
    case 'bool': return v.v ? 'true' : 'false';
    case 'int': return v.v;
    case 'double': return JSON.stringify(v.v);
    case 'bytes': return JSON.stringify(v.v); // []byte marshals as base64
    case 'array': return `[${v.v.map(rawJson).join(',')}]`;
    case 'kvlist': {
      const byKey = new Map(v.v.map((kv) => [kv.key, kv.value])); // a later duplicate key wins, as in a Go map
      return `{${[...byKey.keys()].sort().map((k) => `${JSON.stringify(k)}:${rawJson(byKey.get(k))}`).join(',')}}`;
    }
    default: return 'null';
  }
}

/** An OTLP attribute as a Jaeger tag: scalar types map one to one; arrays and maps become their JSON text. */
function tagOf(key, v) {
  switch (v.t) {
    case 'string': return { key, type: 'string', value: v.v };
    case 'bool': return { key, type: 'bool', value: v.v };
    case 'int': return { key, type: 'int64', value: v.v };
    case 'double': return { key, type: 'float64', value: v.v };
    case 'bytes': return { key, type: 'binary', value: v.v };
    case 'array':
    case 'kvlist': return { key, type: 'string', value: rawJson(v) };
    default: return { key, type: 'string', value: '' }; // an empty value prints as ""
  }
}

const stringTag = (key, value) => ({ key, type: 'string', value });
const tagsOf = (attributes) => attributes.map((a) => tagOf(a.key, a.value));

// ---------------------------------------------------------------------------------------------------------------
// The mapping

function processOf(resource) {
  const attrs = resource.attributes;
  if (attrs.length === 0) return { serviceName: NO_SERVICE_NAME, tags: [] };
  const service = attrs.find((a) => a.key === 'service.name');
  return {
    serviceName: service?.value.t === 'string' ? service.value.v : '',
    tags: tagsOf(attrs.filter((a) => a.key !== 'service.name')),
  };
}

function referencesOf(span) {
  const refs = [];
  const hasParent = span.parentSpanId !== '' && span.parentSpanId !== ZERO_SPAN_ID;
  if (hasParent) refs.push({ refType: 'CHILD_OF', traceId: span.traceId, spanId: span.parentSpanId });
  for (const link of span.links) {
    const refTypeAttr = link.attributes.find((a) => a.key === 'opentracing.ref_type');
    const refType = refTypeAttr?.value.t === 'string' && refTypeAttr.value.v === 'child_of' ? 'CHILD_OF' : 'FOLLOWS_FROM';
    if (hasParent && link.traceId === span.traceId && link.spanId === span.parentSpanId) {
      refs[0].refType = refType; // the link names the parent: it only decides the parent reference's type
      continue;
    }
    refs.push({ refType, traceId: link.traceId, spanId: link.spanId });
  }
  return refs;
}

function logsOf(span) {
  return span.events.map((e) => {
    const fields = [];
    if (e.name !== '' && !e.attributes.some((a) => a.key === EVENT_NAME_FIELD)) fields.push(stringTag(EVENT_NAME_FIELD, e.name));
    fields.push(...tagsOf(e.attributes));
    return { timestampUnixNano: e.timeUnixNano, fields };
  });
}

function spanTagsOf(span) {
  const tags = [];
  if (span.scope.name !== '') tags.push(stringTag('otel.scope.name', span.scope.name));
  if (span.scope.version !== '') tags.push(stringTag('otel.scope.version', span.scope.version));
  tags.push(...tagsOf(span.attributes.filter((a) => a.key !== WARNINGS_ATTRIBUTE)));
  const kind = SPAN_KIND_TAG_VALUES[span.kind] ?? '';
  if (kind !== '') tags.push(stringTag('span.kind', kind));
  if (span.status.code === STATUS_OK) tags.push(stringTag('otel.status_code', 'OK'));
  if (span.status.code === STATUS_ERROR) {
    tags.push(stringTag('otel.status_code', 'ERROR'));
    tags.push({ key: 'error', type: 'bool', value: true });
  }
  if (span.status.message !== '') tags.push(stringTag('otel.status_description', span.status.message));
  if (span.traceState !== '') tags.push(stringTag('w3c.tracestate', span.traceState));
  return tags;
}

function warningsOf(span) {
  const attr = span.attributes.find((a) => a.key === WARNINGS_ATTRIBUTE);
  if (!attr) return [];
  const values = attr.value.t === 'array' ? attr.value.v : [attr.value];
  return values.map((v) => (v.t === 'string' ? v.v : rawJson(v)));
}

/**
 * The Jaeger spans of one OTLP/JSON TracesData document (object or JSON text), in document order, each with its
 * own process.
 */
export function expectedJaegerSpans(otlpTracesJson) {
  return spansFromOtlpJson(otlpTracesJson).map((s) => ({
    traceId: s.traceId,
    spanId: s.spanId,
    operationName: s.name,
    flags: 0, // the standard mapping leaves Jaeger's flags unset (docs/jaeger-semantics.md §6.5)
    references: referencesOf(s),
    startTimeUnixNano: s.startTimeUnixNano,
    durationNanos: (BigInt(s.endTimeUnixNano) - BigInt(s.startTimeUnixNano)).toString(),
    tags: spanTagsOf(s),
    logs: logsOf(s),
    process: processOf(s.resource),
    warnings: warningsOf(s),
  }));
}

// ---------------------------------------------------------------------------------------------------------------
// Normalisation

const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
const cmpDec = (a, b) => { const x = BigInt(a); const y = BigInt(b); return x < y ? -1 : x > y ? 1 : 0; };
const sortTags = (tags) => [...tags].sort((a, b) => cmp(a.key, b.key) || cmp(stableJson(a), stableJson(b)));

function normalizeSpan(s) {
  return {
    ...s,
    references: [...s.references].sort((a, b) => cmp(a.traceId, b.traceId) || cmp(a.spanId, b.spanId)
      || cmp(a.refType, b.refType)),
    tags: sortTags(s.tags),
    logs: s.logs.map((l) => ({ ...l, fields: sortTags(l.fields) }))
      .sort((a, b) => cmpDec(a.timestampUnixNano, b.timestampUnixNano) || cmp(stableJson(a.fields), stableJson(b.fields))),
    process: { ...s.process, tags: sortTags(s.process.tags) },
    warnings: [...s.warnings],
  };
}

/**
 * A copy of `spans` in one order for deep equality: spans by (trace id, span id, start time); within a span, tags,
 * process tags and log fields by key then value, logs by (timestamp, fields), references by (trace id, span id,
 * type). Orders the Jaeger model does not give a meaning to are thereby ignored; warnings keep their order.
 */
export function normalizeJaegerSpans(spans) {
  return spans.map(normalizeSpan).sort((a, b) => cmp(a.traceId, b.traceId) || cmp(a.spanId, b.spanId)
    || cmpDec(a.startTimeUnixNano, b.startTimeUnixNano));
}

const truncateToMicros = (ns) => ((BigInt(ns) / 1000n) * 1000n).toString();

/**
 * A copy of `spans` with start times, durations and log timestamps truncated to whole microseconds, as the /api
 * JSON carries them (µs, truncated), for comparing it with expectedJaegerSpans.
 */
export function atMicrosecondPrecision(spans) {
  return spans.map((s) => ({
    ...s,
    startTimeUnixNano: truncateToMicros(s.startTimeUnixNano),
    durationNanos: truncateToMicros(s.durationNanos),
    logs: s.logs.map((l) => ({ ...l, timestampUnixNano: truncateToMicros(l.timestampUnixNano) })),
  }));
}
