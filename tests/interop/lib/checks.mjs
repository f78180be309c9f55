// Shared assertions for the interop suites.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { compareDec, diffTraces } from './canonical.mjs';
import { assembleStream } from './clients.mjs';

/** Asserts two sets of canonical spans are equal under Jaeger's normalisation; lists every difference. */
export function assertSameTraces(expected, actual, context = '', opts = {}) {
  const d = diffTraces(expected, actual, opts);
  if (d.length) assert.fail(`${context ? `${context}: ` : ''}traces differ from the expected ones:\n  ${d.join('\n  ')}`);
}

/** Trace ids (sorted, unique) of canonical spans. */
export function traceIdsOf(spans) {
  return [...new Set(spans.map((s) => s.traceId))].sort();
}

/**
 * Asserts a TracesData stream honours the chunking contract and returns exactly `expected` (canonical spans):
 * the same trace ids, the same total span count, each trace equal to its fixture; traces newest first.
 * @returns the assembled stream
 */
export function assertStreamEquals(messages, expected, context = '', opts = {}) {
  const r = assembleStream(messages);
  const ctx = context ? `${context}: ` : '';
  assert.deepEqual(r.problems, [], `${ctx}stream contract violated`);
  assert.deepEqual([...r.spansByTrace.keys()].sort(), traceIdsOf(expected), `${ctx}returned trace ids`);
  assert.equal(r.spans.length, expected.length, `${ctx}total span count`);
  assertSameTraces(expected, r.spans, context, opts);
  assertNewestFirst(r, context);
  return r;
}

/** Traces in the stream come newest first: by their newest span start, non-increasing. */
export function assertNewestFirst(assembled, context = '') {
  const newest = assembled.order.map((id) => assembled.spansByTrace.get(id)
    .map((s) => s.startTimeUnixNano).reduce((a, b) => (compareDec(a, b) >= 0 ? a : b)));
  for (let i = 1; i < newest.length; i++) {
    assert.ok(compareDec(newest[i - 1], newest[i]) >= 0,
      `${context ? `${context}: ` : ''}traces not newest first: ${assembled.order.join(', ')} (newest starts ${newest.join(', ')})`);
  }
}

/**
 * Calls `read()` until `done(result)` holds or `timeoutMs` passes, and returns the last result. Reads may lag
 * writes a little (Jaeger's own suite polls for up to 100 s); callers only keep polling while expected data is
 * missing, never when the answer is wrong in another way, so failures stay fast and precise.
 */
export async function readUntil(read, done, { timeoutMs = 3000, intervalMs = 150 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await read();
    if (done(r) || Date.now() >= deadline) return r;
    await sleep(intervalMs);
  }
}

/** True when every id of `expectedIds` is among `gotIds` or some unexpected id showed up (no point waiting). */
export function completeOrWrong(gotIds, expectedIds) {
  const got = new Set(gotIds);
  const want = new Set(expectedIds);
  return expectedIds.every((id) => got.has(id)) || gotIds.some((id) => !want.has(id));
}
