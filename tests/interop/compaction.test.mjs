// Compaction across processes: a server writes many small blocks; then two `tracebucket compact --once` processes
// compact the same bucket at once, with a lease so short that it expires in the middle of a merge (so both may merge
// the same blocks), and one of them is killed with SIGKILL mid-compaction. Every acknowledged span must then be read
// back exactly once and byte for byte (lib/load.mjs "Verification"), after a restart of the server, and the blocks
// must have been merged. The same again through POST /admin/compact on a running server.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TbServer, binaryPath } from './lib/server.mjs';
import { Ledger, RawReader, describeVerification, startWriters, verifyLedger } from './lib/load.mjs';

const ROUNDS = 6; // blocks written before compacting
const WRITE_MS = 700;

/**
 * A ledger whose phases (one minute apart, lib/load.mjs) all fall in the current hour. Compaction merges the blocks of
 * one hour's window, and an open window only once it holds four of them: phases that crossed an hour's end (one run in
 * ten when they started at "now") would leave two windows of three blocks, and nothing to merge.
 */
function ledgerInThisHour() {
  const hourNs = 3_600_000_000_000n;
  return new Ledger({ profile: 'durability', baseNs: ((BigInt(Date.now()) * 1_000_000n) / hourNs) * hourNs });
}

/** Writes for WRITE_MS with 4 writers, then flushes: one more block. */
async function writeBlock(server, ledger, phase) {
  const stop = { requested: false };
  const w = startWriters({ address: server.grpcAddress, ledger, phase, n: 4, stop });
  await sleep(WRITE_MS);
  stop.requested = true;
  await w.done;
  w.close();
  assert.deepEqual(w.errors, [], `writes failed; stderr:\n${server.stderrTail()}`);
  return server.flush();
}

async function verify(server, ledger, label) {
  const reader = new RawReader(server.grpcAddress);
  try {
    const v = await verifyLedger(reader, ledger);
    assert.ok(v.ok, `${label}: ${describeVerification(v)}\nstderr:\n${server.stderrTail()}`);
    return v;
  } finally {
    reader.close();
  }
}

/** `tracebucket compact --once --config FILE` as a child process: {child, exited: Promise<{code, signal, stdout, stderr}>}. */
function startCompactor(configFile) {
  const child = spawn(binaryPath(), ['compact', '--once', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, exited };
}

/** Blocks served by a server, from its start-up log line ("recovered N blocks from …"). */
function blocksAtStart(server) {
  const m = server.stderr.match(/recovered (\d+) blocks from/);
  assert.ok(m, `no recovery line in stderr:\n${server.stderrTail()}`);
  return Number(m[1]);
}

describe('compaction', () => {
  test('two compactors on one bucket, one killed mid-merge: no span lost or shown twice', async (t) => {
    const server = await TbServer.start({ extraArgs: ['--no-background-compaction', '--no-background-flush'] });
    const ledger = ledgerInThisHour();
    try {
      for (let phase = 1; phase <= ROUNDS; phase++) await writeBlock(server, ledger, phase);
      await server.stop();
      const config = path.join(server.dataDir, 'compact.yaml');
      // zstd level 19 makes a merge take seconds; a lease shorter than a merge lets the
      // second compactor take over while the first still works.
      fs.writeFileSync(config, [
        `data_dir: ${server.dataDir}`,
        'compaction:',
        '  memory_budget: 64MiB',
        '  lease_duration: 300ms',
        '  zstd_level: 19',
        '',
      ].join('\n'));

      const a = startCompactor(config);
      await sleep(500); // the first one's lease has expired by now, in the middle of its merge
      const b = startCompactor(config);
      await sleep(500);
      a.child.kill('SIGKILL');
      const ra = await a.exited;
      const rb = await b.exited;
      t.diagnostic(`first: ${JSON.stringify({ code: ra.code, signal: ra.signal })}; second: exit ${rb.code} ${rb.stdout.trim()}`);
      assert.equal(ra.signal, 'SIGKILL', `the first compactor finished before it was killed: ${ra.stdout}`);
      // The second either did the work (0), found the lease held (3), or lost a race for an input it was reading (1).
      assert.ok([0, 1, 3].includes(rb.code), `second compactor: exit ${rb.code}\n${rb.stderr.slice(-3000)}`);

      // Whatever was left, a compactor finishes once the dead holder's lease has expired.
      let last;
      for (let i = 0; i < 50; i++) {
        last = await startCompactor(config).exited;
        if (last.code === 0 && JSON.parse(last.stdout).compactions === 0) break;
        if (last.code !== 3 && last.code !== 0) assert.fail(`compact --once: exit ${last.code}\n${last.stderr.slice(-3000)}`);
        await sleep(200);
      }
      assert.equal(last.code, 0, `compact --once never finished: ${last.stderr.slice(-3000)}`);

      await server.restart();
      const blocks = blocksAtStart(server);
      assert.ok(blocks < ROUNDS, `${blocks} blocks after compaction, ${ROUNDS} before`);
      const v = await verify(server, ledger, 'after two compactors');
      t.diagnostic(`${blocks} blocks (from ${ROUNDS}); ${describeVerification(v)}`);
      await server.stop();
    } finally {
      await server.dispose();
    }
  });

  test('POST /admin/compact merges the blocks and answers a JSON summary once durable', async (t) => {
    const server = await TbServer.start({ extraArgs: ['--no-background-compaction', '--no-background-flush'] });
    const ledger = ledgerInThisHour();
    try {
      // Four blocks: enough to merge the current hour's window while it is still open.
      for (let phase = 1; phase <= 4; phase++) await writeBlock(server, ledger, phase);
      const res = await fetch(`${server.httpBase}/admin/compact`, { method: 'POST', signal: AbortSignal.timeout(120_000) });
      const body = await res.text();
      assert.equal(res.status, 200, body);
      assert.match(res.headers.get('content-type'), /application\/json/);
      const summary = JSON.parse(body);
      t.diagnostic(body.trim());
      assert.equal(summary.compactions, 1);
      assert.equal(summary.input_blocks, 4);
      assert.equal(summary.output_blocks, 1);
      assert.equal(summary.output_spans, ledger.ackedSpans());
      assert.equal(summary.input_spans, ledger.ackedSpans());
      // The same run, as an operator's dashboard sees it.
      const metrics = await (await fetch(`${server.httpBase}/metrics`)).text();
      const counter = (name) => Number(metrics.match(new RegExp(`^tracebucket_${name} (\\S+)$`, 'm'))?.[1]);
      assert.deepEqual(
        ['compaction_runs_total', 'compaction_failures_total', 'compaction_input_blocks_total',
          'compaction_output_blocks_total', 'compaction_output_spans_total'].map(counter),
        [1, 0, 4, 1, ledger.ackedSpans()]);
      assert.equal(counter('compaction_output_bytes_total'), summary.output_bytes);
      assert.equal(Number(metrics.match(/^tracebucket_compaction_duration_seconds_count (\S+)$/m)?.[1]), 1);
      await verify(server, ledger, 'after POST /admin/compact');
      const listed = (await (await fetch(`${server.httpBase}/admin/blocks`)).json()).blocks;
      assert.deepEqual(listed.map((b) => [b.level, b.spans]), [[1, ledger.ackedSpans()]], 'one level-1 block');
      // Durable: a kill -9 right after the answer keeps the result.
      await server.kill9();
      await server.restart();
      assert.equal(blocksAtStart(server), 1);
      await verify(server, ledger, 'after a restart');
      await server.stop();
    } finally {
      await server.dispose();
    }
  });
});
