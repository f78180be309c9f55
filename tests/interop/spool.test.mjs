// An object-store outage during sustained ingest (issue 12 item 6), against a real S3 server (Ceph RGW) that this
// suite starts for itself (scripts/s3-up.sh with its own RGW_DIR), so it can stop it without disturbing other suites.
// The radosgw process is stopped (SIGTERM: connections are refused, as when the S3 service is down) for
// TB_SPOOL_OUTAGE_SECONDS (default 60) while grpc-js writers export realistic batches at a steady rate, then started
// again on the same cluster (same ceph.conf, port and data). Meanwhile:
// - the writers go on being acknowledged, more than the head's memory budget, with no RESOURCE_EXHAUSTED: flushes
//   go to the local spool (docs/format/spool.md), whose files are on disk while the store is down;
// - once RGW is back, the spool empties by itself and the blocks are in the bucket;
// - every acknowledged span reads back exactly once, before and after a restart of the server.
import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import grpc from '@grpc/grpc-js';

import { TbClients, assembleStream } from './lib/clients.mjs';
import { otlpJsonToProto } from './lib/fixtures.mjs';
import { S3Bucket, uniqueBucketName } from './lib/s3.mjs';
import { TbServer } from './lib/server.mjs';

const run = promisify(execFile);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const rgwDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-spool-rgw-'));
const OUTAGE_MS = Number(process.env.TB_SPOOL_OUTAGE_SECONDS || 60) * 1000;
const HEAD_BUDGET = 16 << 20;
const SPANS_PER_BATCH = 100;
const WRITERS = 2;
const BATCHES_PER_SECOND = 10;  // per writer: 2,000 spans/s in all

let s3 = null;
let bucket = null;
let server = null;

function rgwPid() { return Number(fs.readFileSync(path.join(rgwDir, 'rgw.pid'), 'utf8')); }
function alive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

async function stopRgw() {
  const pid = rgwPid();
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 200 && alive(pid); i++) await sleep(50);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

/** radosgw again, as scripts/s3-up.sh starts it: same ceph.conf (port, cluster), same user and buckets. */
async function startRgw() {
  const log = fs.openSync(path.join(rgwDir, 'log', 'rgw.restart.stdout'), 'a');
  const child = spawn('radosgw', ['-c', path.join(rgwDir, 'ceph.conf'), '-n', 'client.rgw', '-f'],
    { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  fs.writeFileSync(path.join(rgwDir, 'rgw.pid'), `${child.pid}\n`);  // so that s3-down.sh stops it
  for (let i = 0; i < 600; i++) {
    try {
      await fetch(s3.endpoint, { signal: AbortSignal.timeout(1000) });
      return;
    } catch { await sleep(100); }
  }
  assert.fail('radosgw did not answer within 60 s of its restart');
}

/** One trace of SPANS_PER_BATCH spans, as an instrumented request would make (attributes, events). */
function batch(traceId) {
  const start = BigInt(Date.now() - 5_000) * 1_000_000n;
  return otlpJsonToProto({
    resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } },
        { key: 'host.name', value: { stringValue: `pod-${traceId.slice(-2)}` } }] },
      scopeSpans: [{
        scope: { name: 'spool-test' },
        spans: Array.from({ length: SPANS_PER_BATCH }, (_, i) => ({
          traceId, spanId: (i + 1).toString(16).padStart(16, '0'),
          parentSpanId: i ? '0000000000000001' : '', name: `GET /api/item/${i % 7}`, kind: i ? 3 : 2,
          startTimeUnixNano: String(start + BigInt(i) * 1000n), endTimeUnixNano: String(start + BigInt(i) * 1000n + 500_000n),
          attributes: [{ key: 'http.url', value: { stringValue: `https://shop.example/api/item/${i}?q=${'x'.repeat(160)}` } },
            { key: 'http.status_code', value: { intValue: 200 } }],
          events: [{ timeUnixNano: String(start), name: 'cache.miss', attributes: [] }],
        })),
      }],
    }],
  });
}

/**
 * A writer as a real exporter behaves: one batch at a time at a steady rate; on RESOURCE_EXHAUSTED or UNAVAILABLE
 * (nothing stored) it waits and sends the same batch again. Any other error fails the test.
 */
class Writer {
  constructor(clients, id, stats) {
    this.clients = clients;
    this.id = id;
    this.stats = stats;
    this.acked = [];  // [trace id, ack time]
    this.stopping = false;
  }

  async run() {
    let n = 0;
    while (!this.stopping) {
      const due = Date.now() + 1000 / BATCHES_PER_SECOND;
      const traceId = crypto.createHash('sha256').update(`${this.id}-${n++}`).digest('hex').slice(0, 32);
      const request = batch(traceId);
      for (;;) {
        try {
          await this.clients.export(request, { deadline: Date.now() + 30_000 });
          this.acked.push([traceId, Date.now()]);
          break;
        } catch (err) {
          if (err.code !== grpc.status.RESOURCE_EXHAUSTED && err.code !== grpc.status.UNAVAILABLE) throw err;
          this.stats.refused.push([err.code, Date.now()]);
          await sleep(500);
        }
      }
      await sleep(Math.max(0, due - Date.now()));
    }
  }
}

/** The tenant's gauges from /metrics: head_spans, head_bytes, spool_blocks, spool_bytes. */
async function gauges() {
  const text = await (await fetch(`${server.httpBase}/metrics`)).text();
  const sample = (name) => Number(text.match(new RegExp(`^tracebucket_${name}\\{tenant="default"\\} (\\S+)$`, 'm'))?.[1] ?? NaN);
  return Object.fromEntries(['head_spans', 'head_bytes', 'spool_blocks', 'spool_bytes'].map((n) => [n, sample(n)]));
}

function spooledBlocks() {
  const dir = path.join(server.dataDir, 'spool', 'tenants', 'default', 'blocks');
  if (!fs.existsSync(dir)) return 0;
  return fs.readdirSync(dir).filter((id) => fs.existsSync(path.join(dir, id, 'meta'))).length;
}

/** Span count of every trace in `ids` (hex), read through GetTraces in groups; each span ID counted once. */
async function spansByTrace(clients, ids) {
  const counts = new Map();
  for (let i = 0; i < ids.length; i += 100) {
    const got = assembleStream(await clients.getTraces(ids.slice(i, i + 100)));
    assert.deepEqual(got.problems, []);
    for (const [id, spans] of got.spansByTrace) {
      const distinct = new Set(spans.map((s) => s.spanId)).size;
      counts.set(id, distinct === spans.length ? spans.length : -spans.length);  // negative: a span twice
    }
  }
  return counts;
}

function assertEverySpanOnce(counts, ids, when) {
  const wrong = ids.filter((id) => counts.get(id) !== SPANS_PER_BATCH);
  assert.equal(wrong.length, 0, `${when}: ${wrong.length} of ${ids.length} acknowledged traces not read back with `
    + `${SPANS_PER_BATCH} distinct spans, e.g. ${wrong.slice(0, 3).map((id) => `${id}: ${counts.get(id)}`).join(', ')}`);
  assert.equal(counts.size, ids.length, `${when}: traces that were never acknowledged`);
}

before(async () => {
  const { stdout } = await run('bash', [path.join(repo, 'scripts', 's3-up.sh')],
    { env: { ...process.env, RGW_DIR: rgwDir }, maxBuffer: 1 << 20 });
  const vars = Object.fromEntries([...stdout.matchAll(/(S3_[A-Z_]+)=(\S+)/g)].map((m) => [m[1], m[2].replace(/^['"]|['"]$/g, '')]));
  s3 = { endpoint: vars.S3_ENDPOINT, region: vars.S3_REGION, accessKey: vars.S3_ACCESS_KEY, secretKey: vars.S3_SECRET_KEY };
  bucket = new S3Bucket(s3, uniqueBucketName('tb-spool'));
  await bucket.create();
  server = await TbServer.start({
    extraArgs: ['--storage', `s3://${bucket.name}/t`, '--s3-endpoint', s3.endpoint, '--s3-region', s3.region,
      '--s3-path-style', '--head-memory-budget', String(HEAD_BUDGET), '--no-background-compaction'],
    env: { AWS_ACCESS_KEY_ID: s3.accessKey, AWS_SECRET_ACCESS_KEY: s3.secretKey,
      TRACEBUCKET_FLUSH_SIZE: '2MiB', TRACEBUCKET_FLUSH_AGE_SECONDS: '2', TRACEBUCKET_FLUSH_SPOOL_MAX_SIZE: '1GiB' },
  });
});

after(async () => {
  if (server) await server.dispose();
  await run('bash', [path.join(repo, 'scripts', 's3-down.sh')], { env: { ...process.env, RGW_DIR: rgwDir } })
    .catch((e) => console.error(`s3-down: ${e.message}`));
  fs.rmSync(rgwDir, { recursive: true, force: true });
});

test(`ingest goes on through a ${OUTAGE_MS / 1000} s S3 outage, the spool uploads itself, and no acknowledged span `
  + 'is lost', { timeout: OUTAGE_MS + 240_000 }, async (t) => {
  const clients = new TbClients(server.grpcAddress);
  const stats = { refused: [] };
  const writers = Array.from({ length: WRITERS }, (_, i) => new Writer(clients, i, stats));
  const running = writers.map((w) => w.run());
  const keepAlive = setInterval(() => {}, 1000);
  try {
    await sleep(5_000);
    const blocksBefore = (await bucket.listKeys('t/')).filter((k) => k.endsWith('/meta')).length;
    assert.ok(blocksBefore > 0, `no block flushed while the store was up:\n${server.stderrTail()}`);

    await stopRgw();
    const down = Date.now();
    let spooledMidway = 0;
    let perSpan = Infinity;
    let spoolGaugeMax = 0;  // tracebucket_spool_blocks, what an operator would watch
    while (Date.now() - down < OUTAGE_MS) {
      await sleep(1000);
      const onDisk = spooledBlocks();
      const g = await gauges();
      spooledMidway = Math.max(spooledMidway, onDisk);
      spoolGaugeMax = Math.max(spoolGaugeMax, g.spool_blocks);
      if (g.spool_blocks > 0) assert.ok(g.spool_bytes > 0, `spool_blocks ${g.spool_blocks} with spool_bytes ${g.spool_bytes}`);
      if (g.head_spans > 0) perSpan = Math.min(perSpan, g.head_bytes / g.head_spans);
    }
    const up = Date.now();
    await startRgw();
    const restarted = Date.now();

    const during = ([, at]) => at >= down && at < up;
    const spansDuring = writers.reduce((sum, w) => sum + w.acked.filter(during).length, 0) * SPANS_PER_BATCH;
    const refusedDuring = stats.refused.filter(during).length;
    const headBytesDuring = spansDuring * perSpan;
    t.diagnostic(`outage ${((up - down) / 1000).toFixed(1)} s: ${spansDuring} spans acknowledged (${(headBytesDuring / 2 ** 20).toFixed(1)} MiB `
      + `at the head's ${perSpan.toFixed(0)} B/span; head budget ${HEAD_BUDGET / 2 ** 20} MiB), ${refusedDuring} refusals, `
      + `up to ${spooledMidway} blocks spooled at once`);
    assert.ok(Number.isFinite(perSpan), 'the heads held no span at any sample of /metrics');
    assert.ok(spooledMidway > 0, `nothing was spooled while the store was down:\n${server.stderrTail()}`);
    assert.ok(spoolGaugeMax > 0, 'tracebucket_spool_blocks stayed 0 while blocks were spooled');
    // More than the head could hold: the spool, not the head, absorbed the outage.
    assert.ok(headBytesDuring > HEAD_BUDGET, `only ${spansDuring} spans (${headBytesDuring} head bytes) acknowledged while the store was down`);
    assert.equal(refusedDuring, 0, 'back-pressure while the spool had room');

    // The writers go on: the spool must empty by itself, with no flush asked for.
    const deadline = Date.now() + 120_000;
    while ((spooledBlocks() > 0 || (await gauges()).spool_blocks > 0) && Date.now() < deadline) await sleep(100);
    assert.equal(spooledBlocks(), 0, `the spool did not empty after the store came back:\n${server.stderrTail()}`);
    const drained = await gauges();
    assert.deepEqual([drained.spool_blocks, drained.spool_bytes], [0, 0], 'the spool gauges after the upload');
    t.diagnostic(`spool empty ${((Date.now() - restarted) / 1000).toFixed(1)} s after radosgw answered again`);
    await sleep(Math.max(0, restarted + 5_000 - Date.now()));
    for (const w of writers) w.stopping = true;
    await Promise.all(running);
    assert.match(server.stderr, /spooled block \S+ uploaded/);
    await server.flush();  // what the head still holds; the store answers again

    const ids = writers.flatMap((w) => w.acked.map(([id]) => id));
    assertEverySpanOnce(await spansByTrace(clients, ids), ids, 'after the outage');
    const metas = (await bucket.listKeys('t/')).filter((k) => k.endsWith('/meta')).length;
    t.diagnostic(`${ids.length * SPANS_PER_BATCH} spans acknowledged in all, ${metas} blocks in the bucket`);

    clients.close();
    await server.stop();
    await server.restart();
    const again = new TbClients(server.grpcAddress);
    try {
      assertEverySpanOnce(await spansByTrace(again, ids), ids, 'after a restart');
    } finally {
      again.close();
    }
  } finally {
    clearInterval(keepAlive);
    for (const w of writers) w.stopping = true;
    await Promise.allSettled(running);
    clients.close();
  }
});
