// One canonical JS form for spans, whichever way they arrived, and a comparator implementing Jaeger's
// normalisation (docs/jaeger-semantics.md §4, Jaeger's trace_compare.go + OTel's ptracetest):
//   * every span stands alone with a copy of its resource and scope (grouping on the wire does not matter);
//   * attributes are sorted by key everywhere (resource, scope, span, events, links);
//   * traces sorted by id, spans by (trace id, span id, start), events by (name, time, attrs),
//     links by (trace id, span id, attrs, flags, trace_state);
//   * values keep their type: int, double, string, bool, bytes, array, kvlist, empty.
// Sources: OTLP/JSON documents (the fixtures: hex ids, decimal-string times) and TracesData decoded by
// @grpc/proto-loader with lib/proto.mjs options (Buffers for bytes, decimal strings for 64-bit ints).
//
// Canonical span:
//   { traceId, spanId, parentSpanId (lower-case hex, '' when empty), traceState, name, kind (number),
//     startTimeUnixNano, endTimeUnixNano (decimal strings), attributes: [{key, value}], droppedAttributesCount,
//     events: [{name, timeUnixNano, attributes, droppedAttributesCount}], droppedEventsCount,
//     links: [{traceId, spanId, traceState, attributes, droppedAttributesCount, flags}], droppedLinksCount,
//     status: {code, message}, flags,
//     resource: {attributes, droppedAttributesCount, schemaUrl}, scope: {name, version, attributes,
//     droppedAttributesCount, schemaUrl} }
// Canonical value: {t: 'string'|'bool'|'int'|'double'|'bytes'|'array'|'kvlist'|'empty', v}
//   int → decimal string; double → number; bytes → base64; array → [values]; kvlist → [{key, value}] (sorted).

// ---------------------------------------------------------------------------------------------------------------
// Small helpers

const SPAN_KIND_NAMES = {
  SPAN_KIND_UNSPECIFIED: 0, SPAN_KIND_INTERNAL: 1, SPAN_KIND_SERVER: 2, SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4, SPAN_KIND_CONSUMER: 5,
};
const STATUS_CODE_NAMES = { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 };

function enumNumber(v, names) {
  if (v === undefined || v === null || v === '') return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v in names) return names[v];
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  throw new Error(`unknown enum value ${JSON.stringify(v)}`);
}

function decString(v) {
  // 64-bit integers: JSON decimal strings or numbers, proto-loader decimal strings (longs: String), or Long/BigInt.
  if (v === undefined || v === null || v === '') return '0';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new Error(`unsafe integer ${v}: use decimal strings for 64-bit values`);
    return String(v);
  }
  if (typeof v === 'string') {
    if (!/^-?\d+$/.test(v)) throw new Error(`not a decimal integer: ${JSON.stringify(v)}`);
    return BigInt(v).toString();
  }
  if (typeof v === 'object' && typeof v.toString === 'function') return BigInt(v.toString()).toString();
  throw new Error(`cannot read integer from ${typeof v}`);
}

function u32(v) {
  if (v === undefined || v === null || v === '') return 0;
  return Number(v);
}

function hexFromJson(v) {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string' || !/^[0-9a-fA-F]*$/.test(v)) throw new Error(`bad hex id ${JSON.stringify(v)}`);
  return v.toLowerCase();
}

function hexFromBytes(v) {
  if (v === undefined || v === null) return '';
  return Buffer.from(v).toString('hex');
}

function doubleFromJson(v) {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    // proto3 JSON allows "NaN", "Infinity", "-Infinity" and numbers in strings.
    if (v === 'NaN') return NaN;
    if (v === 'Infinity') return Infinity;
    if (v === '-Infinity') return -Infinity;
    const n = Number(v);
    if (Number.isNaN(n)) throw new Error(`bad doubleValue ${JSON.stringify(v)}`);
    return n;
  }
  throw new Error(`bad doubleValue ${JSON.stringify(v)}`);
}

export function compareDec(a, b) {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function cmpStr(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** JSON with BigInt support and -0/NaN/Infinity spelled out, used for sort keys and messages. */
export function stableJson(v) {
  return JSON.stringify(v, (_k, x) => {
    if (typeof x === 'bigint') return x.toString();
    if (typeof x === 'number' && !Number.isFinite(x)) return String(x);
    if (typeof x === 'number' && Object.is(x, -0)) return '-0';
    return x;
  });
}

function sortAttributes(attrs) {
  // Stable sort by key: duplicate keys (illegal but possible) keep their relative order.
  return attrs.map((a, i) => [a, i]).sort((p, q) => cmpStr(p[0].key, q[0].key) || p[1] - q[1]).map((p) => p[0]);
}

// ---------------------------------------------------------------------------------------------------------------
// From OTLP/JSON

function valueFromJson(av) {
  if (av === undefined || av === null) return { t: 'empty', v: null };
  if ('stringValue' in av) return { t: 'string', v: String(av.stringValue) };
  if ('boolValue' in av) return { t: 'bool', v: Boolean(av.boolValue) };
  if ('intValue' in av) return { t: 'int', v: decString(av.intValue) };
  if ('doubleValue' in av) return { t: 'double', v: doubleFromJson(av.doubleValue) };
  if ('bytesValue' in av) return { t: 'bytes', v: Buffer.from(av.bytesValue ?? '', 'base64').toString('base64') };
  if ('arrayValue' in av) return { t: 'array', v: (av.arrayValue?.values ?? []).map(valueFromJson) };
  if ('kvlistValue' in av) return { t: 'kvlist', v: attrsFromJson(av.kvlistValue?.values) };
  return { t: 'empty', v: null };
}

function attrsFromJson(list) {
  return sortAttributes((list ?? []).map((kv) => ({ key: String(kv.key ?? ''), value: valueFromJson(kv.value) })));
}

/**
 * Canonical spans of a TracesData-shaped object: OTLP/JSON and proto-loader objects share the field
 * names and differ only in how IDs and attribute lists are encoded.
 */
function spansFrom(doc, id, attrs) {
  const out = [];
  for (const rs of doc.resourceSpans ?? []) {
    const resource = {
      attributes: attrs(rs.resource?.attributes),
      droppedAttributesCount: u32(rs.resource?.droppedAttributesCount),
      schemaUrl: rs.schemaUrl ?? '',
    };
    for (const ss of rs.scopeSpans ?? []) {
      const scope = {
        name: ss.scope?.name ?? '',
        version: ss.scope?.version ?? '',
        attributes: attrs(ss.scope?.attributes),
        droppedAttributesCount: u32(ss.scope?.droppedAttributesCount),
        schemaUrl: ss.schemaUrl ?? '',
      };
      for (const s of ss.spans ?? []) {
        out.push(finishSpan({
          traceId: id(s.traceId),
          spanId: id(s.spanId),
          parentSpanId: id(s.parentSpanId),
          traceState: s.traceState ?? '',
          name: s.name ?? '',
          kind: enumNumber(s.kind, SPAN_KIND_NAMES),
          startTimeUnixNano: decString(s.startTimeUnixNano),
          endTimeUnixNano: decString(s.endTimeUnixNano),
          attributes: attrs(s.attributes),
          droppedAttributesCount: u32(s.droppedAttributesCount),
          events: (s.events ?? []).map((e) => ({
            name: e.name ?? '',
            timeUnixNano: decString(e.timeUnixNano),
            attributes: attrs(e.attributes),
            droppedAttributesCount: u32(e.droppedAttributesCount),
          })),
          droppedEventsCount: u32(s.droppedEventsCount),
          links: (s.links ?? []).map((l) => ({
            traceId: id(l.traceId),
            spanId: id(l.spanId),
            traceState: l.traceState ?? '',
            attributes: attrs(l.attributes),
            droppedAttributesCount: u32(l.droppedAttributesCount),
            flags: u32(l.flags),
          })),
          droppedLinksCount: u32(s.droppedLinksCount),
          status: { code: enumNumber(s.status?.code, STATUS_CODE_NAMES), message: s.status?.message ?? '' },
          flags: u32(s.flags),
          resource,
          scope,
        }));
      }
    }
  }
  return out;
}

/** Canonical spans of one OTLP/JSON TracesData (or ExportTraceServiceRequest) document (object or JSON text). */
export function spansFromOtlpJson(doc) {
  if (typeof doc === 'string') doc = JSON.parse(doc);
  return spansFrom(doc, hexFromJson, attrsFromJson);
}

// ---------------------------------------------------------------------------------------------------------------
// From proto-loader objects (TracesData / ExportTraceServiceRequest decoded with lib/proto.mjs options)

function valueFromProto(av) {
  if (av === undefined || av === null) return { t: 'empty', v: null };
  // With oneofs: true the virtual field `value` names the member that is set; fall back to presence checks.
  const which = av.value ?? ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'bytesValue', 'arrayValue',
    'kvlistValue'].find((k) => av[k] !== undefined && av[k] !== null);
  switch (which) {
    case 'stringValue': return { t: 'string', v: av.stringValue };
    case 'boolValue': return { t: 'bool', v: Boolean(av.boolValue) };
    case 'intValue': return { t: 'int', v: decString(av.intValue) };
    case 'doubleValue': return { t: 'double', v: Number(av.doubleValue) };
    case 'bytesValue': return { t: 'bytes', v: Buffer.from(av.bytesValue).toString('base64') };
    case 'arrayValue': return { t: 'array', v: (av.arrayValue?.values ?? []).map(valueFromProto) };
    case 'kvlistValue': return { t: 'kvlist', v: attrsFromProto(av.kvlistValue?.values) };
    default: return { t: 'empty', v: null };
  }
}

function attrsFromProto(list) {
  return sortAttributes((list ?? []).map((kv) => ({ key: kv.key ?? '', value: valueFromProto(kv.value) })));
}

/** Canonical spans of a decoded TracesData or ExportTraceServiceRequest. */
export function spansFromProto(msg) {
  return spansFrom(msg, hexFromBytes, attrsFromProto);
}

function finishSpan(span) {
  span.events.sort((a, b) => cmpStr(a.name, b.name) || compareDec(a.timeUnixNano, b.timeUnixNano)
    || cmpStr(stableJson(a.attributes), stableJson(b.attributes)));
  span.links.sort((a, b) => cmpStr(a.traceId, b.traceId) || cmpStr(a.spanId, b.spanId)
    || cmpStr(stableJson(a.attributes), stableJson(b.attributes)) || a.flags - b.flags
    || cmpStr(a.traceState, b.traceState));
  return span;
}

// ---------------------------------------------------------------------------------------------------------------
// Normalisation and comparison

/** Sorts canonical spans by (trace id, span id, start) — a copy. */
export function sortSpans(spans) {
  return [...spans].sort((a, b) => cmpStr(a.traceId, b.traceId) || cmpStr(a.spanId, b.spanId)
    || compareDec(a.startTimeUnixNano, b.startTimeUnixNano));
}

/** Map trace id → its spans sorted; keys in trace-id order. */
export function groupByTrace(spans) {
  const m = new Map();
  for (const s of sortSpans(spans)) {
    if (!m.has(s.traceId)) m.set(s.traceId, []);
    m.get(s.traceId).push(s);
  }
  return m;
}

export function formatValue(v) {
  if (!v) return 'absent';
  switch (v.t) {
    case 'string': return `string(${JSON.stringify(v.v)})`;
    case 'int': return `int(${v.v})`;
    case 'double': return `double(${Object.is(v.v, -0) ? '-0' : String(v.v)})`;
    case 'bool': return `bool(${v.v})`;
    case 'bytes': return `bytes(base64 ${v.v})`;
    case 'array': return `array[${v.v.map(formatValue).join(', ')}]`;
    case 'kvlist': return `kvlist{${v.v.map((kv) => `${kv.key}: ${formatValue(kv.value)}`).join(', ')}}`;
    default: return 'empty';
  }
}

function sameValue(a, b) {
  if (a.t !== b.t) return false;
  switch (a.t) {
    case 'double': return Object.is(a.v, b.v) || (a.v === b.v);
    case 'array': return a.v.length === b.v.length && a.v.every((x, i) => sameValue(x, b.v[i]));
    case 'kvlist': return sameAttributes(a.v, b.v);
    default: return a.v === b.v;
  }
}

function sameAttributes(a, b) {
  return a.length === b.length && a.every((kv, i) => kv.key === b[i].key && sameValue(kv.value, b[i].value));
}

class DiffSink {
  constructor(limit) { this.limit = limit; this.items = []; this.truncated = 0; }
  add(msg) { if (this.items.length < this.limit) this.items.push(msg); else this.truncated++; }
  result() { return this.truncated ? [...this.items, `… and ${this.truncated} more difference(s)`] : this.items; }
}

function diffScalar(exp, act, path, sink) {
  if (!Object.is(exp, act)) sink.add(`${path}: expected ${stableJson(exp)}, got ${stableJson(act)}`);
}

function diffAttributes(exp, act, path, sink) {
  if (sameAttributes(exp, act)) return;
  const byKey = (list) => {
    const m = new Map();
    for (const kv of list) { if (!m.has(kv.key)) m.set(kv.key, []); m.get(kv.key).push(kv.value); }
    return m;
  };
  const e = byKey(exp);
  const a = byKey(act);
  const keys = [...new Set([...e.keys(), ...a.keys()])].sort();
  for (const k of keys) {
    const ev = e.get(k) ?? [];
    const av = a.get(k) ?? [];
    if (ev.length === av.length && ev.every((v, i) => sameValue(v, av[i]))) continue;
    if (!av.length) sink.add(`${path}[${k}]: missing (expected ${ev.map(formatValue).join(' ')})`);
    else if (!ev.length) sink.add(`${path}[${k}]: unexpected attribute ${av.map(formatValue).join(' ')}`);
    else sink.add(`${path}[${k}]: expected ${ev.map(formatValue).join(' ')}, got ${av.map(formatValue).join(' ')}`);
  }
}

function diffResource(exp, act, path, sink) {
  diffAttributes(exp.attributes, act.attributes, `${path}.attributes`, sink);
  diffScalar(exp.droppedAttributesCount, act.droppedAttributesCount, `${path}.droppedAttributesCount`, sink);
  diffScalar(exp.schemaUrl, act.schemaUrl, `${path}.schemaUrl`, sink);
}

function diffScope(exp, act, path, sink) {
  diffScalar(exp.name, act.name, `${path}.name`, sink);
  diffScalar(exp.version, act.version, `${path}.version`, sink);
  diffAttributes(exp.attributes, act.attributes, `${path}.attributes`, sink);
  diffScalar(exp.droppedAttributesCount, act.droppedAttributesCount, `${path}.droppedAttributesCount`, sink);
  diffScalar(exp.schemaUrl, act.schemaUrl, `${path}.schemaUrl`, sink);
}

function diffList(exp, act, path, what, diffOne, sink) {
  if (exp.length !== act.length) sink.add(`${path}: expected ${exp.length} ${what}, got ${act.length}`);
  const n = Math.min(exp.length, act.length);
  for (let i = 0; i < n; i++) diffOne(exp[i], act[i], `${path}[${i}]`, sink);
}

function diffEvent(exp, act, path, sink) {
  diffScalar(exp.name, act.name, `${path}.name`, sink);
  diffScalar(exp.timeUnixNano, act.timeUnixNano, `${path}.timeUnixNano`, sink);
  diffAttributes(exp.attributes, act.attributes, `${path}.attributes`, sink);
  diffScalar(exp.droppedAttributesCount, act.droppedAttributesCount, `${path}.droppedAttributesCount`, sink);
}

function diffLink(exp, act, path, sink, opts) {
  diffScalar(exp.traceId, act.traceId, `${path}.traceId`, sink);
  diffScalar(exp.spanId, act.spanId, `${path}.spanId`, sink);
  diffScalar(exp.traceState, act.traceState, `${path}.traceState`, sink);
  diffAttributes(exp.attributes, act.attributes, `${path}.attributes`, sink);
  diffScalar(exp.droppedAttributesCount, act.droppedAttributesCount, `${path}.droppedAttributesCount`, sink);
  if (opts.compareFlags) diffScalar(exp.flags, act.flags, `${path}.flags`, sink);
}

function diffSpan(exp, act, path, sink, opts) {
  diffResource(exp.resource, act.resource, `${path}.resource`, sink);
  diffScope(exp.scope, act.scope, `${path}.scope`, sink);
  for (const f of ['traceId', 'spanId', 'traceState', 'parentSpanId', 'name', 'kind', 'startTimeUnixNano',
    'endTimeUnixNano', 'droppedAttributesCount', 'droppedEventsCount', 'droppedLinksCount']) {
    diffScalar(exp[f], act[f], `${path}.${f}`, sink);
  }
  if (opts.compareFlags) diffScalar(exp.flags, act.flags, `${path}.flags`, sink);
  diffAttributes(exp.attributes, act.attributes, `${path}.attributes`, sink);
  diffScalar(exp.status.code, act.status.code, `${path}.status.code`, sink);
  diffScalar(exp.status.message, act.status.message, `${path}.status.message`, sink);
  diffList(exp.events, act.events, `${path}.events`, 'events', diffEvent, sink);
  diffList(exp.links, act.links, `${path}.links`, 'links', (e, a, p, s) => diffLink(e, a, p, s, opts), sink);
}

const spanKey = (s) => `${s.spanId}@${s.startTimeUnixNano}`;

/**
 * Compares two sets of canonical spans (any number of traces) under Jaeger's normalisation.
 * Unlike Jaeger's dedupeSpans step, duplicates are NOT dropped: the multiset of spans must match.
 * @param {object[]} expected canonical spans
 * @param {object[]} actual canonical spans
 * @param {{compareFlags?: boolean, limit?: number}} [opts] compareFlags: also compare span/link flags (Jaeger does not)
 * @returns {string[]} human-readable differences; empty when equal
 */
export function diffTraces(expected, actual, opts = {}) {
  const o = { compareFlags: false, limit: 40, ...opts };
  const sink = new DiffSink(o.limit);
  const e = groupByTrace(expected);
  const a = groupByTrace(actual);
  const ids = [...new Set([...e.keys(), ...a.keys()])].sort();
  for (const id of ids) {
    const es = e.get(id);
    const as = a.get(id);
    if (!as) { sink.add(`trace ${id}: missing (expected ${es.length} span(s))`); continue; }
    if (!es) { sink.add(`trace ${id}: unexpected trace with ${as.length} span(s)`); continue; }
    if (es.length !== as.length) sink.add(`trace ${id}: expected ${es.length} span(s), got ${as.length}`);
    // Pair spans by (span id, start); a key may occur several times (duplicate span ids), pair those in order.
    const pool = new Map();
    for (const s of as) { const k = spanKey(s); if (!pool.has(k)) pool.set(k, []); pool.get(k).push(s); }
    const unmatchedExpected = [];
    for (const s of es) {
      const k = spanKey(s);
      const cand = pool.get(k);
      if (cand && cand.length) diffSpan(s, cand.shift(), `trace ${id} span ${s.spanId} (start ${s.startTimeUnixNano})`, sink, o);
      else unmatchedExpected.push(s);
    }
    const unmatchedActual = [...pool.values()].flat();
    // Spans whose id matched but start differs: diff them against each other to show the field that changed.
    for (const s of unmatchedExpected) {
      const j = unmatchedActual.findIndex((x) => x.spanId === s.spanId);
      if (j >= 0) diffSpan(s, unmatchedActual.splice(j, 1)[0], `trace ${id} span ${s.spanId}`, sink, o);
      else sink.add(`trace ${id} span ${s.spanId} (start ${s.startTimeUnixNano}, "${s.name}"): missing`);
    }
    for (const s of unmatchedActual) sink.add(`trace ${id} span ${s.spanId} (start ${s.startTimeUnixNano}, "${s.name}"): unexpected`);
  }
  return sink.result();
}

/** Deep copy of canonical spans (for mutation experiments). */
export function cloneSpans(spans) {
  // One structuredClone per span, so spans that shared a resource/scope object no longer do.
  return spans.map((s) => structuredClone(s));
}

/** Value as Jaeger's pdata AsString() prints it (for tag matching by canonical string). */
export function asString(v) {
  switch (v.t) {
    case 'string': return v.v;
    case 'bool': return v.v ? 'true' : 'false';
    case 'int': return v.v;
    case 'double': return String(v.v);
    case 'bytes': return v.v;
    default: return stableJson(v.v);
  }
}
