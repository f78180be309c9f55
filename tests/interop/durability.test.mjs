// Durability under concurrent load: an Export acknowledged with OK has been fdatasync'd to the WAL, so it must survive
// a kill -9 (and a SIGTERM) at any moment. 8 grpc-js writers, each on its own channel and connection, send Export
// requests of 50–200 spans (unique trace and span ids per client and request, plus 3 spans per request of one
// "long" trace per client that collects spans from many requests) and record exactly which requests were
// acknowledged. Mid-flight the server is killed; after a restart on the same data dir every acknowledged span must be
// read back by trace id, exactly once and byte-for-byte as sent (see lib/load.mjs "Verification"); spans of requests
// that failed at the kill may or may not be there, but if they are they must be intact. Several kill cycles run on
// one data dir, each re-checking everything acknowledged so far.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { TbServer } from './lib/server.mjs';
import { Ledger, RawExporter, RawReader, describeVerification, startWriters, verifyLedger } from './lib/load.mjs';

const WRITERS = 8;
const WRITE_MS = 3000; // writing time before each interruption
const KILL_CYCLES = 3;
const TERM_CYCLES = 2;
const MIN_ACKED_SPANS_PER_CYCLE = 1000; // the test must have done real work
const WRITERS_FINISH_MS = 30_000; // bound on how long writers may take to notice the server is gone

function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms); });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

/**
 * Writes with WRITERS concurrent clients for WRITE_MS, then calls `interrupt()` while requests are in flight and waits
 * for the writers to stop (each stops at its first failed call, or when the interruption is over).
 */
async function writeThenInterrupt(server, ledger, phase, interrupt) {
  const stop = { requested: false };
  const started = Date.now();
  const w = startWriters({ address: server.grpcAddress, ledger, phase, n: WRITERS, stop });
  try {
    await sleep(WRITE_MS);
    for (let i = 0; i < 400 && w.inFlight() === 0; i++) await sleep(5); // bounded: make sure calls are in flight
    const inFlight = w.inFlight();
    const at = Date.now();
    const errorsBefore = w.errors.filter((e) => e.at < at);
    await interrupt();
    const interruptMs = Date.now() - at;
    stop.requested = true;
    await withTimeout(w.done, WRITERS_FINISH_MS, 'writers');
    const acked = ledger.ackedRequests(phase);
    return {
      inFlight,
      interruptMs,
      errorsBefore,
      writeMs: at - started,
      ackedSpans: acked.reduce((n, r) => n + r.spans, 0),
      ackedRequests: acked.length,
      ackedAfterSignal: acked.filter((r) => r.at >= at).length,
      failedRequests: [...ledger.failed.values()].filter((r) => r.phase === phase).length,
      errorCodes: [...new Set(w.errors.map((e) => e.code))].join(','),
    };
  } finally {
    stop.requested = true;
    w.close();
  }
}

function checkCycle(r, server, label) {
  assert.ok(r.inFlight > 0, `${label}: no request was in flight at the interruption; the test did not interrupt writes`);
  assert.deepEqual(r.errorsBefore, [], `${label}: Export failed before the interruption; stderr:\n${server.stderrTail()}`);
  assert.ok(r.ackedSpans > MIN_ACKED_SPANS_PER_CYCLE,
    `${label}: only ${r.ackedSpans} spans acknowledged in ${r.writeMs} ms (want > ${MIN_ACKED_SPANS_PER_CYCLE})`);
}

async function verifyAll(server, ledger, label) {
  const reader = new RawReader(server.grpcAddress);
  try {
    const started = Date.now();
    const v = await verifyLedger(reader, ledger);
    v.ms = Date.now() - started;
    assert.equal(v.ackedSpans, ledger.ackedSpans(), `${label}: ledger bookkeeping`);
    assert.ok(v.ok, `${label}: acknowledged spans lost or changed: ${describeVerification(v)}\nserver stderr:\n${server.stderrTail()}`);
    return v;
  } finally {
    reader.close();
  }
}

const summary = (r) => `${r.ackedSpans} spans in ${r.ackedRequests} requests acknowledged in ${r.writeMs} ms `
  + `(${Math.round(r.ackedSpans / (r.writeMs / 1000))} spans/s); ${r.inFlight} in flight at the signal, exited ${r.interruptMs} ms after it, `
  + `${r.ackedAfterSignal} acknowledged after it, ${r.failedRequests} failed (codes ${r.errorCodes || 'none'})`;

describe('durability', () => {
  test('acknowledged spans survive kill -9', async (t) => {
    const server = await TbServer.start();
    const ledger = new Ledger({ profile: 'durability' });
    try {
      for (let phase = 1; phase <= KILL_CYCLES; phase++) {
        const label = `kill cycle ${phase}`;
        const r = await writeThenInterrupt(server, ledger, phase, () => server.kill9());
        assert.equal(server.exit?.signal, 'SIGKILL', `${label}: server did not die of SIGKILL (${JSON.stringify(server.exit)})`);
        checkCycle(r, server, label);
        const restartStarted = Date.now();
        await server.restart();
        const restartMs = Date.now() - restartStarted;
        const v = await verifyAll(server, ledger, label);
        t.diagnostic(`${label}: ${summary(r)}; restart ${restartMs} ms; verified in ${v.ms} ms: ${describeVerification(v)}`);
      }
      // the last restart also serves writes and stops cleanly
      await server.stop();
    } finally {
      await server.dispose();
    }
  });

  test('SIGTERM while clients write: exit code 0, acknowledged spans survive a restart', async (t) => {
    const server = await TbServer.start();
    const ledger = new Ledger({ profile: 'durability' });
    try {
      for (let phase = 1; phase <= TERM_CYCLES; phase++) {
        const label = `SIGTERM cycle ${phase}`;
        const r = await writeThenInterrupt(server, ledger, phase, () => server.stop({ expectCode: 0 }));
        assert.equal(server.exit?.code, 0, `${label}: exit ${JSON.stringify(server.exit)}`);
        checkCycle(r, server, label);
        await server.restart();
        const v = await verifyAll(server, ledger, label);
        t.diagnostic(`${label}: ${summary(r)}; verified in ${v.ms} ms: ${describeVerification(v)}`);
      }
      await server.stop();
    } finally {
      await server.dispose();
    }
  });

  test('the verification bites: missing, changed and never-sent spans are reported', async () => {
    const server = await TbServer.start();
    const exporter = new RawExporter(server.grpcAddress);
    const reader = new RawReader(server.grpcAddress);
    try {
      const truth = new Ledger({ profile: 'durability' });
      for (let seq = 1; seq <= 3; seq++) {
        const built = truth.buildEncoded(1, 0, seq);
        await exporter.export(built.bytes);
        truth.ack(1, 0, seq, built);
      }
      const same = { runTag: truth.runTag, baseNs: truth.baseNs };
      const ok = await verifyLedger(reader, truth);
      assert.ok(ok.ok && ok.ackedSpans === truth.ackedSpans(), describeVerification(ok));

      // a request claimed acknowledged but never sent
      const claims = new Ledger(same);
      for (let seq = 1; seq <= 4; seq++) claims.ack(1, 0, seq, claims.build(1, 0, seq));
      const missing = await verifyLedger(reader, claims);
      assert.ok(!missing.ok, describeVerification(missing));
      assert.equal(missing.missing, claims.acked.get('1/0/4').spans, describeVerification(missing));
      assert.ok(missing.tracesShort >= 2, describeVerification(missing)); // seq 4's own traces and the long trace

      // every span changed (times shifted by 1 µs)
      const shifted = new Ledger({ ...same, baseNs: truth.baseNs + 1000n });
      for (let seq = 1; seq <= 3; seq++) shifted.ack(1, 0, seq, shifted.build(1, 0, seq));
      const changed = await verifyLedger(reader, shifted);
      assert.equal(changed.mismatched, truth.ackedSpans(), describeVerification(changed));
      assert.match(changed.examples[0], /startTimeUnixNano/, describeVerification(changed));

      // spans the ledger never sent: seq 3's spans of the shared long trace
      const partial = new Ledger(same);
      for (let seq = 1; seq <= 2; seq++) partial.ack(1, 0, seq, partial.build(1, 0, seq));
      const unknown = await verifyLedger(reader, partial);
      assert.equal(unknown.unknown, 3, describeVerification(unknown));
      await server.stop();
    } finally {
      exporter.close();
      reader.close();
      await server.dispose();
    }
  });
});
