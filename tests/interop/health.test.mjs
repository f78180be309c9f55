// GET /live and GET /ready through the real binary, against a real S3 server (Ceph RGW) that this suite starts
// for itself (scripts/s3-up.sh with its own RGW_DIR), so it can stop the server without disturbing other suites:
// - /live answers 200 whatever the store does; /ready is 200 with every check ok while RGW answers;
// - RGW frozen (SIGSTOP: it accepts connections and never answers, the outage a probe timeout exists for) →
//   /ready turns 503 within the probe interval + timeout, and its JSON body names the object_store check;
// - RGW resumed (SIGCONT) → /ready is 200 again;
// - SIGTERM with --shutdown-delay-seconds → /ready is 503 with the shutdown check failing while the process still
//   answers, then the process exits 0;
// - RGW stopped for good → /ready is 503 with the probe's error.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { S3Bucket, uniqueBucketName } from './lib/s3.mjs';
import { TbServer } from './lib/server.mjs';

const run = promisify(execFile);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const rgwDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-health-rgw-'));
let s3 = null;
let rgwPid = 0;
let bucket = null;
let server = null;

async function readiness() {
  const res = await fetch(`${server.httpBase}/ready`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.json() };
}

/** Polls /ready until `want(status)` holds; returns the last answer. */
async function waitReadiness(want, what, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let last = null;
  while (Date.now() < deadline) {
    last = await readiness();
    if (want(last.status)) return last;
    await sleep(100);
  }
  assert.fail(`${what}: /ready still ${last?.status} ${JSON.stringify(last?.body)} after ${timeoutMs} ms`);
}

before(async () => {
  const { stdout } = await run('bash', [path.join(repo, 'scripts', 's3-up.sh')],
    { env: { ...process.env, RGW_DIR: rgwDir }, maxBuffer: 1 << 20 });
  const vars = Object.fromEntries([...stdout.matchAll(/(S3_[A-Z_]+)=(\S+)/g)].map((m) => [m[1], m[2].replace(/^['"]|['"]$/g, '')]));
  s3 = { endpoint: vars.S3_ENDPOINT, region: vars.S3_REGION, accessKey: vars.S3_ACCESS_KEY, secretKey: vars.S3_SECRET_KEY };
  rgwPid = Number(fs.readFileSync(path.join(rgwDir, 'rgw.pid'), 'utf8'));
  bucket = new S3Bucket(s3, uniqueBucketName('tb-health'));
  await bucket.create();
  server = await TbServer.start({
    extraArgs: ['--storage', `s3://${bucket.name}/t`, '--s3-endpoint', s3.endpoint, '--s3-region', s3.region,
      '--s3-path-style', '--shutdown-delay-seconds', '3'],
    // The probe settings through their environment variables (docs/configuration.md).
    env: { AWS_ACCESS_KEY_ID: s3.accessKey, AWS_SECRET_ACCESS_KEY: s3.secretKey,
      TRACEBUCKET_HEALTH_PROBE_INTERVAL_SECONDS: '1', TRACEBUCKET_HEALTH_PROBE_TIMEOUT_SECONDS: '1' },
  });
});

after(async () => {
  if (rgwPid) try { process.kill(rgwPid, 'SIGCONT'); } catch { /* gone */ }
  if (server && !server.exit) await server.kill9();
  await run('bash', [path.join(repo, 'scripts', 's3-down.sh')], { env: { ...process.env, RGW_DIR: rgwDir } })
    .catch((e) => console.error(`s3-down: ${e.message}`));
  fs.rmSync(rgwDir, { recursive: true, force: true });
});

test('/live and /ready answer 200 with JSON while the store answers', async () => {
  const live = await fetch(`${server.httpBase}/live`);
  assert.equal(live.status, 200);
  assert.deepEqual(await live.json(), { status: 'live' });
  const ready = await readiness();
  assert.equal(ready.status, 200, JSON.stringify(ready.body));
  assert.equal(ready.body.status, 'ready');
  for (const name of ['wal', 'object_store', 'shutdown']) assert.equal(ready.body.checks[name]?.ok, true, name);
});

test('/ready is 503 while the S3 server is frozen, and 200 once it answers again', async () => {
  process.kill(rgwPid, 'SIGSTOP');
  try {
    const down = await waitReadiness((s) => s === 503, 'RGW frozen');
    assert.equal(down.body.status, 'not ready');
    assert.equal(down.body.checks.object_store.ok, false);
    assert.match(down.body.checks.object_store.detail, /probe running for over|last probe failed/);
    assert.equal(down.body.checks.wal.ok, true, 'the WAL is not what fails');
    assert.equal((await fetch(`${server.httpBase}/live`)).status, 200, '/live does not depend on the store');
  } finally {
    process.kill(rgwPid, 'SIGCONT');
  }
  const up = await waitReadiness((s) => s === 200, 'RGW resumed');
  assert.equal(up.body.checks.object_store.ok, true);
});

test('during the shutdown delay /ready is 503 and the process still answers; then it exits 0', async () => {
  // The harness unrefs its children: a pending timer keeps node's loop alive until the exit is seen.
  const keepAlive = setInterval(() => {}, 1000);
  server.child.kill('SIGTERM');
  const draining = await waitReadiness((s) => s === 503, 'after SIGTERM', 2500);
  assert.equal(draining.body.checks.shutdown.ok, false);
  assert.equal(draining.body.checks.shutdown.detail, 'shutting down');
  assert.equal((await fetch(`${server.httpBase}/live`)).status, 200, 'still live while draining');
  const exit = await server.exited;
  clearInterval(keepAlive);
  assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, server.stderrTail());
});

test('/ready names the probe error when the S3 server is gone', async () => {
  server = await TbServer.start({
    extraArgs: ['--storage', `s3://${bucket.name}/t`, '--s3-endpoint', s3.endpoint, '--s3-region', s3.region,
      '--s3-path-style'],
    env: { AWS_ACCESS_KEY_ID: s3.accessKey, AWS_SECRET_ACCESS_KEY: s3.secretKey,
      TRACEBUCKET_HEALTH_PROBE_INTERVAL_SECONDS: '1', TRACEBUCKET_HEALTH_PROBE_TIMEOUT_SECONDS: '5' },
  });
  process.kill(rgwPid, 'SIGKILL');
  rgwPid = 0;
  const gone = await waitReadiness((s) => s === 503, 'RGW killed', 60_000);
  assert.equal(gone.body.checks.object_store.ok, false);
  await server.stop();
});
