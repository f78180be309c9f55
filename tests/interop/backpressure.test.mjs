// Back-pressure: with --head-memory-budget 64MiB and no background flush (as when the object store
// cannot keep up) a flood of large Export requests must be refused with
// RESOURCE_EXHAUSTED (gRPC) / HTTP 429 + Retry-After (OTLP/HTTP) once the head is full, while the process stays
// alive, keeps answering reads, keeps its memory bounded, and keeps every span it acknowledged. Writers behave like
// OTLP exporters under back-pressure: a refused batch is sent again (same bytes), at once — a flood. The server's
// memory is sampled from /proc/<pid>/status (VmRSS every 25 ms, VmHWM at the end).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import grpc from '@grpc/grpc-js';
import { TbServer } from './lib/server.mjs';
import { RETRY_INFO_TYPE_URL, grpcErrorDetails, retryDelayMsOf } from './lib/rpc_status.mjs';
import {
  Ledger, MiB, RawReader, RssSampler, countSpans, describeVerification, fmtMiB, ownClients, procMemory, startHttpWriters,
  startWriters, verifyLedger,
} from './lib/load.mjs';

const BUDGET_FLAG = '64MiB';
const BUDGET_BYTES = 64 * MiB;
// What the process may hold beyond the head's budget, measured on this build with 4 writers flooding ~1 MiB
// (1000-span) requests: peak VmHWM 220–230 MiB (≈ 160 MiB over the budget), a flat plateau of ~210 MiB for 60 s
// and 6,000 refused requests (no growth). It covers
//   * the process itself: binary, libraries, gRPC and HTTP threads and their buffers (~21 MiB RSS idle);
//   * the head's bookkeeping beyond its own estimate (the estimate undercounts by ~10%: with one writer the
//     process sits at ~122 MiB for 64 MiB and ~195 MiB for 128 MiB);
//   * in-flight requests, which are received and decoded BEFORE the budget is checked: per ~1 MiB request the wire
//     bytes, the decoded protobuf, the model copy and the WAL encoding, times the concurrent writers;
//   * allocator retention: glibc keeps freed request memory in per-thread arenas (with MALLOC_ARENA_MAX=2 the same
//     flood peaks at ~143 MiB instead of ~227 MiB).
// 192 MiB leaves ~30 MiB of headroom above the measured peak; a budget that is not enforced, or memory that grows
// with every refused request, goes through it within seconds.
const RSS_OVERHEAD_BYTES = 192 * MiB;
const RSS_BOUND = BUDGET_BYTES + RSS_OVERHEAD_BYTES;

const FLOOD_CLIENTS = 4;
const FILL_TIMEOUT_MS = 40_000; // bound on reaching the budget (it takes ~3–6 s here)
const KEEP_FLOODING_MS = 3000; // flooding after the first refusal
const MIN_TRACES_CHECKED = 50;
const READ_EVERY_MS = 200;
const READ_DEADLINE_MS = 10_000;

function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms); });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

/** Spans the ledger recorded for one trace id. */
function spansOfTrace(ledger, traceId) {
  let n = 0;
  for (const [key] of ledger.acked) {
    for (const [k] of ledger.digests.get(key)) if (k.startsWith(traceId)) n++;
  }
  return n;
}

/**
 * One read round: GetServices must list the service of the first acknowledged request and GetTraces of its first
 * trace must return all of that trace's spans.
 */
async function readRound(clients, reader, ledger) {
  const services = await clients.getServices({ deadlineMs: READ_DEADLINE_MS });
  const first = ledger.acked.values().next().value;
  if (!first) return { services: services.services.length, spans: null };
  const want = `load-flood-${first.client % 4}`;
  if (!services.services.includes(want)) throw new Error(`GetServices lacks ${want}: ${services.services.join(', ')}`);
  const traceId = first.traceIds[0];
  let spans = 0;
  // count spans by walking the chunks (cheap); their content is checked by verifyLedger at the end
  for (const chunk of await reader.getTraces([traceId], { deadlineMs: READ_DEADLINE_MS })) spans += countSpans(chunk);
  const expected = spansOfTrace(ledger, traceId);
  if (spans !== expected) throw new Error(`GetTraces ${traceId}: ${spans} spans, ${expected} acknowledged`);
  return { services: services.services.length, spans };
}

/** Reads every READ_EVERY_MS until stop.requested; records successes, latencies and failures. */
function startReaders(server, ledger, stop, isFull) {
  const clients = ownClients(server.grpcAddress);
  const reader = new RawReader(server.grpcAddress);
  const stats = { ok: 0, okWhileFull: 0, withTrace: 0, maxMs: 0, failures: [] };
  const done = (async () => {
    while (!stop.requested) {
      const started = Date.now();
      try {
        const r = await readRound(clients, reader, ledger);
        stats.ok++;
        if (r.spans !== null) stats.withTrace++;
        if (isFull()) stats.okWhileFull++;
        stats.maxMs = Math.max(stats.maxMs, Date.now() - started);
      } catch (e) {
        stats.failures.push(`${((Date.now() - started) / 1000).toFixed(1)}s: ${e.code ?? ''} ${e.details ?? e.message}`);
      }
      await sleep(READ_EVERY_MS);
    }
  })();
  return { stats, done: done.finally(() => { clients.close(); reader.close(); }) };
}

async function verifyAfterFlood(server, ledger, t, label) {
  const reader = new RawReader(server.grpcAddress);
  try {
    const v = await verifyLedger(reader, ledger);
    t.diagnostic(`${label}: ${describeVerification(v)}`);
    assert.ok(v.ok, `${label}: acknowledged spans not readable as sent: ${describeVerification(v)}`);
    const ackedTraces = new Set([...ledger.acked.values()].flatMap((r) => r.traceIds)).size;
    assert.ok(ackedTraces >= MIN_TRACES_CHECKED, `${label}: only ${ackedTraces} acknowledged traces checked (want ≥ ${MIN_TRACES_CHECKED})`);
    // A refused batch must leave nothing behind: the exporter will send it again.
    assert.equal(v.failedRequestsPresent.full + v.failedRequestsPresent.partial, 0,
      `${label}: spans of refused requests were stored: ${describeVerification(v)}`);
    return v;
  } finally {
    reader.close();
  }
}

function assertMemory(server, sampler, label) {
  const mem = procMemory(server.child.pid);
  assert.ok(mem, `${label}: the server process is gone (${JSON.stringify(server.exit)}); stderr:\n${server.stderrTail()}`);
  const peak = Math.max(mem.hwm, sampler.max);
  assert.ok(peak <= RSS_BOUND,
    `${label}: peak RSS ${fmtMiB(peak)} exceeds the ${BUDGET_FLAG} budget + ${fmtMiB(RSS_OVERHEAD_BYTES)} overhead `
    + `(${fmtMiB(RSS_BOUND)}); VmRSS over time: ${sampler.describe()}`);
  return { mem, peak };
}

describe('back-pressure', () => {
  test('a gRPC flood meets RESOURCE_EXHAUSTED within the memory budget', async (t) => {
    const server = await TbServer.start({ extraArgs: ['--head-memory-budget', BUDGET_FLAG, '--no-background-flush'] });
    const sampler = new RssSampler(server.child.pid);
    const ledger = new Ledger({ profile: 'flood' });
    const stopWriters = { requested: false };
    const stopReaders = { requested: false };
    let readers;
    try {
      const t0 = Date.now();
      let firstRefusal = null;
      let refusals = 0;
      const refusalsWithoutRetryInfo = [];
      const w = startWriters({
        address: server.grpcAddress, ledger, phase: 1, n: FLOOD_CLIENTS, stop: stopWriters, deadlineMs: 30_000,
        onError: (e) => {
          if (e.code !== grpc.status.RESOURCE_EXHAUSTED) return 'stop';
          refusals++;
          // OTLP exporters retry a RESOURCE_EXHAUSTED only when its details hold a RetryInfo (else they drop the data)
          const rpcStatus = grpcErrorDetails(e);
          if (retryDelayMsOf(rpcStatus) === null || rpcStatus.code !== e.code || rpcStatus.message !== e.details) {
            refusalsWithoutRetryInfo.push(JSON.stringify(rpcStatus));
          }
          firstRefusal ??= { ms: Date.now() - t0, ackedSpans: ledger.ackedSpans(), rss: procMemory(server.child.pid)?.rss, message: e.details, rpcStatus };
          return 'retry';
        },
      });
      readers = startReaders(server, ledger, stopReaders, () => firstRefusal !== null);
      while (!firstRefusal && Date.now() - t0 < FILL_TIMEOUT_MS && w.errors.every((e) => e.code === grpc.status.RESOURCE_EXHAUSTED)) await sleep(50);
      const refusedAt = Date.now();
      if (firstRefusal) await sleep(KEEP_FLOODING_MS);
      stopWriters.requested = true;
      await withTimeout(w.done, 40_000, 'flood writers');
      w.close();
      stopReaders.requested = true;
      await withTimeout(readers.done, 30_000, 'readers');
      sampler.stop();

      const other = w.errors.filter((e) => e.code !== grpc.status.RESOURCE_EXHAUSTED);
      assert.deepEqual(other, [], `Export failed with something other than RESOURCE_EXHAUSTED; stderr:\n${server.stderrTail()}`);
      assert.ok(firstRefusal, `no RESOURCE_EXHAUSTED within ${FILL_TIMEOUT_MS} ms; ${ledger.ackedSpans()} spans acknowledged; RSS ${sampler.describe()}`);
      t.diagnostic(`first RESOURCE_EXHAUSTED after ${firstRefusal.ms} ms, ${firstRefusal.ackedSpans} spans acknowledged, `
        + `RSS then ${fmtMiB(firstRefusal.rss ?? 0)}: "${firstRefusal.message}"`);
      assert.match(firstRefusal.message, /budget/i, 'RESOURCE_EXHAUSTED message should name the memory budget');
      assert.match(firstRefusal.message, /64 MiB/, 'RESOURCE_EXHAUSTED message should give the budget');
      t.diagnostic(`first refusal's grpc-status-details-bin: ${JSON.stringify(firstRefusal.rpcStatus)}`);
      assert.deepEqual(refusalsWithoutRetryInfo, [],
        'every RESOURCE_EXHAUSTED must carry a google.rpc.Status (same code and message) with a RetryInfo in its details');
      assert.equal(retryDelayMsOf(firstRefusal.rpcStatus), 1000, 'RetryInfo.retry_delay is 1 s, as Retry-After on HTTP');
      t.diagnostic(`flood: ${w.sent()} Export calls by ${FLOOD_CLIENTS} clients, ${refusals} refused, `
        + `${ledger.acked.size} acknowledged (${ledger.ackedSpans()} spans); kept flooding ${Date.now() - refusedAt} ms after the first refusal`);

      // alive and answering reads during and after the flood
      assert.equal(server.exit, null, `the server died: ${JSON.stringify(server.exit)}; stderr:\n${server.stderrTail()}`);
      const rs = readers.stats;
      t.diagnostic(`reads during the flood: ${rs.ok} rounds OK (${rs.okWhileFull} while the head was full, ${rs.withTrace} with GetTraces), slowest ${rs.maxMs} ms, ${rs.failures.length} failed`);
      assert.deepEqual(rs.failures, [], 'reads failed during the flood');
      assert.ok(rs.okWhileFull >= 3 && rs.withTrace >= 3, `too few reads during the flood: ${JSON.stringify(rs)}`);
      const clients = ownClients(server.grpcAddress);
      const reader = new RawReader(server.grpcAddress);
      try { await readRound(clients, reader, ledger); } finally { clients.close(); reader.close(); }

      const { mem, peak } = assertMemory(server, sampler, 'gRPC flood');
      t.diagnostic(`memory: VmHWM ${fmtMiB(mem.hwm)}, max sampled VmRSS ${fmtMiB(sampler.max)} (${sampler.samples} samples), `
        + `VmRSS now ${fmtMiB(mem.rss)}, bound ${fmtMiB(RSS_BOUND)}, peak over budget ${fmtMiB(peak - BUDGET_BYTES)}; `
        + `VmRSS over time (s:MiB): ${sampler.describe()}`);

      await verifyAfterFlood(server, ledger, t, 'after the gRPC flood');
      await server.stop();
    } finally {
      stopWriters.requested = true;
      stopReaders.requested = true;
      sampler.stop();
      await readers?.done.catch(() => {});
      await server.dispose();
    }
  });

  test('an OTLP/JSON refusal carries the RetryInfo in protobuf\'s JSON mapping', async () => {
    // A zero budget is full before the first write, so every write is refused.
    const server = await TbServer.start({ extraArgs: ['--head-memory-budget', '0'] });
    try {
      const res = await server.postTraces('{"resourceSpans":[]}', { contentType: 'application/json' });
      assert.equal(res.status, 429, res.body.toString('utf8'));
      assert.equal(res.headers.get('retry-after'), '1');
      const body = JSON.parse(res.body.toString('utf8'));
      assert.equal(body.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.match(body.message, /budget/);
      assert.deepEqual(body.details, [{ '@type': RETRY_INFO_TYPE_URL, retryDelay: '1s' }]);
    } finally {
      await server.dispose();
    }
  });

  test('an OTLP/HTTP flood meets 429 with Retry-After within the memory budget', async (t) => {
    const server = await TbServer.start({ extraArgs: ['--head-memory-budget', BUDGET_FLAG, '--no-background-flush'] });
    const sampler = new RssSampler(server.child.pid);
    const ledger = new Ledger({ profile: 'flood' });
    const stop = { requested: false };
    try {
      const t0 = Date.now();
      let first429 = null;
      let refusals = 0;
      const w = startHttpWriters({
        base: server.httpBase, ledger, phase: 1, n: FLOOD_CLIENTS, stop,
        onError: (e) => {
          if (e.status !== 429) return 'stop';
          refusals++;
          first429 ??= { ms: Date.now() - t0, ackedSpans: ledger.ackedSpans(), ...e };
          return 'retry';
        },
      });
      while (!first429 && Date.now() - t0 < FILL_TIMEOUT_MS && w.errors.every((e) => e.status === 429)) await sleep(50);
      if (first429) await sleep(KEEP_FLOODING_MS);
      stop.requested = true;
      await withTimeout(w.done, 40_000, 'HTTP flood writers');
      sampler.stop();

      const other = w.errors.filter((e) => e.status !== 429);
      assert.deepEqual(other, [], `POST /v1/traces failed with something other than 429; stderr:\n${server.stderrTail()}`);
      assert.ok(first429, `no 429 within ${FILL_TIMEOUT_MS} ms; ${ledger.ackedSpans()} spans acknowledged`);
      t.diagnostic(`first 429 after ${first429.ms} ms, ${first429.ackedSpans} spans acknowledged: Retry-After ${first429.retryAfter}, `
        + `content-type ${first429.contentType}, "${first429.details}"`);
      assert.ok(first429.retryAfter !== null, '429 without a Retry-After header');
      const delay = /^\d+$/.test(first429.retryAfter) ? Number(first429.retryAfter) : (Date.parse(first429.retryAfter) - Date.now()) / 1000;
      assert.ok(Number.isFinite(delay) && delay >= 0 && delay <= 3600, `Retry-After "${first429.retryAfter}" is neither delay-seconds nor an HTTP date`);
      assert.match(first429.details, /budget/i, '429 body (google.rpc.Status) should name the memory budget');
      assert.equal(first429.retryDelayMs, delay * 1000, '429 body (google.rpc.Status) should hold a RetryInfo of the Retry-After delay');
      t.diagnostic(`HTTP flood: ${w.sent()} POSTs by ${FLOOD_CLIENTS} clients, ${refusals} answered 429, `
        + `${ledger.acked.size} acknowledged (${ledger.ackedSpans()} spans)`);

      assert.equal(server.exit, null, `the server died: ${JSON.stringify(server.exit)}; stderr:\n${server.stderrTail()}`);
      const ready = await fetch(`${server.httpBase}/ready`, { signal: AbortSignal.timeout(5000) });
      await ready.arrayBuffer();
      assert.equal(ready.status, 200, 'GET /ready after the flood');
      const { mem, peak } = assertMemory(server, sampler, 'HTTP flood');
      t.diagnostic(`memory: VmHWM ${fmtMiB(mem.hwm)}, max sampled VmRSS ${fmtMiB(sampler.max)}, bound ${fmtMiB(RSS_BOUND)}, `
        + `peak over budget ${fmtMiB(peak - BUDGET_BYTES)}; VmRSS over time (s:MiB): ${sampler.describe()}`);

      await verifyAfterFlood(server, ledger, t, 'after the HTTP flood');
      await server.stop();
    } finally {
      stop.requested = true;
      sampler.stop();
      await server.dispose();
    }
  });
});
