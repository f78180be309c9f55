// Legacy plugin mode: `tracebucket plugin --config FILE` started exactly as Jaeger ≤ 1.57 starts a storage plugin
// through hashicorp/go-plugin (docs/jaeger-semantics.md §8): the magic cookie and go-plugin's variables in the environment,
// one handshake line on stdout (`1|1|tcp|127.0.0.1:PORT|grpc`), gRPC health for "plugin", the v1 storage services
// on that connection, logs on stderr only, and GRPCController/Shutdown ending the process with exit code 0.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { binaryPath } from './lib/server.mjs';
import { timestampFromNanos } from './lib/fixtures.mjs';
import { V1Clients, assembleV1Stream, jaegerSpanToProto } from './lib/storage_v1.mjs';

const HANDSHAKE = /^1\|1\|tcp\|127\.0\.0\.1:(\d+)\|grpc$/;
// What go-plugin's client puts in the plugin's environment, plus Jaeger's cookie.
const GO_PLUGIN_ENV = {
  STORAGE_PLUGIN: 'jaeger',
  PLUGIN_PROTOCOL_VERSIONS: '1',
  PLUGIN_MIN_PORT: '10000',
  PLUGIN_MAX_PORT: '25000',
};

const tempDirs = [];
function tempDir() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-plugin-'));
  tempDirs.push(d);
  return d;
}
after(() => { for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true }); });

/**
 * Runs the plugin as go-plugin does, stdout and stderr piped: `<binary> plugin --config <file>`, or with `bare`
 * exactly Jaeger's command line `<binary> --config <file>` (the cookie then selects plugin mode).
 */
function startPlugin({ env = GO_PLUGIN_ENV, configFile, cwd, bare = false }) {
  const child = spawn(binaryPath(), [...(bare ? [] : ['plugin']), '--config', configFile], {
    cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH, ...env },
  });
  const p = { child, stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => { p.stdout += d; });
  child.stderr.on('data', (d) => { p.stderr += d; });
  p.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return p;
}

async function waitFor(cond, what, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** The handshake line, once go-plugin would have read it (the first full line of stdout). */
async function handshake(p) {
  let ended = null;
  p.exited.then((e) => { ended = e; });
  await waitFor(() => p.stdout.includes('\n') || ended, 'the handshake line');
  assert.ok(p.stdout.includes('\n'), `plugin exited (${JSON.stringify(ended)}) before the handshake; stderr:\n${p.stderr}`);
  const line = p.stdout.slice(0, p.stdout.indexOf('\n'));
  const m = HANDSHAKE.exec(line);
  assert.ok(m, `handshake line ${JSON.stringify(line)} is not core 1 | app 1 | tcp | 127.0.0.1:PORT | grpc`);
  return { line, address: `127.0.0.1:${m[1]}` };
}

function writeConfig(dataDir) {
  const file = path.join(tempDir(), 'tracebucket.yaml');
  fs.writeFileSync(file, `data_dir: ${dataDir}\nlog: {level: debug}\n`);
  return file;
}

const exampleSpan = (traceId) => ({
  traceId, spanId: '00000000000000a1', operationName: 'plugin-op', flags: 0, references: [],
  startTimeUnixNano: (BigInt(Date.now()) * 1_000_000n).toString(), durationNanos: '2500000',
  tags: [{ key: 'span.kind', type: 'string', value: 'server' }, { key: 'attempt', type: 'int64', value: '3' }],
  logs: [], process: { serviceName: 'plugin-svc', tags: [{ key: 'hostname', type: 'string', value: 'h1' }] }, warnings: [],
});

describe('tracebucket plugin, started the way go-plugin starts a Jaeger storage plugin', () => {
  test('handshake, health "plugin", v1 writes and reads, stdout quiet, Shutdown → exit 0, data kept', async () => {
    const dataDir = tempDir();
    const configFile = writeConfig(dataDir);
    const p = startPlugin({ configFile });
    let clients;
    try {
      const { line, address } = await handshake(p);
      clients = new V1Clients(address);
      const health = await clients.healthCheck('plugin');
      assert.equal(health.status, 1 /* SERVING */);

      const span = exampleSpan('0000000000000000000000000000beef');
      await clients.writeSpan(jaegerSpanToProto(span));
      const got = assembleV1Stream(await clients.getTrace(span.traceId));
      assert.deepEqual(got.problems, []);
      assert.equal(got.spans.length, 1);
      assert.equal(got.spans[0].operationName, 'plugin-op');
      assert.equal(got.spans[0].process.serviceName, 'plugin-svc');
      assert.equal(got.spans[0].durationNanos, '2500000');
      assert.deepEqual((await clients.getServices()).services, ['plugin-svc']);
      assert.equal((await clients.capabilities()).streamingSpanWriter, false);

      const start = BigInt(span.startTimeUnixNano);
      const ids = await clients.findTraceIds({
        serviceName: 'plugin-svc', operationName: '', tags: { attempt: '3', hostname: 'h1' },
        startTimeMin: timestampFromNanos(start - 1_000_000_000n), startTimeMax: timestampFromNanos(start + 1_000_000_000n),
        durationMin: { seconds: '0', nanos: 0 }, durationMax: { seconds: '0', nanos: 0 }, numTraces: 20,
      });
      assert.deepEqual(ids.traceIds.map((b) => Buffer.from(b).toString('hex')), [span.traceId]);

      await clients.shutdown();
      const exit = await Promise.race([p.exited, sleep(15_000, 'timeout', { ref: false })]);
      assert.deepEqual(exit, { code: 0, signal: null }, `after Shutdown; stderr:\n${p.stderr}`);
      assert.equal(p.stdout, `${line}\n`, 'stdout carries the handshake line and nothing else');
      assert.match(p.stderr, /plugin host asked us to shut down/, 'logs go to stderr');
    } finally {
      clients?.close();
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
    }

    // A second start on the same data dir, with Jaeger's exact command line, serves what the first acknowledged.
    const again = startPlugin({ configFile, bare: true });
    let clients2;
    try {
      const { address } = await handshake(again);
      clients2 = new V1Clients(address);
      const got = assembleV1Stream(await clients2.getTrace('0000000000000000000000000000beef'));
      assert.equal(got.spans.length, 1, 'span written before the Shutdown survives a restart');
      await clients2.shutdown();
      assert.deepEqual(await again.exited, { code: 0, signal: null });
    } finally {
      clients2?.close();
      if (again.child.exitCode === null) again.child.kill('SIGKILL');
    }
  });

  test('an empty --config (Jaeger passes one when no file is configured) serves with defaults', async () => {
    const p = startPlugin({ configFile: '', cwd: tempDir() });
    try {
      const { address } = await handshake(p);
      const clients = new V1Clients(address);
      try {
        assert.equal((await clients.healthCheck('plugin')).status, 1);
      } finally {
        clients.close();
      }
      p.child.kill('SIGTERM'); // go-plugin's fallback when Shutdown is not answered
      assert.deepEqual(await p.exited, { code: 0, signal: null });
    } finally {
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
    }
  });

  test('without the magic cookie: non-zero exit, a message on stderr, nothing on stdout', async () => {
    const configFile = writeConfig(tempDir());
    const { STORAGE_PLUGIN: _omitted, ...noCookie } = GO_PLUGIN_ENV;
    for (const env of [noCookie, { ...GO_PLUGIN_ENV, STORAGE_PLUGIN: 'not-jaeger' }]) {
      const p = startPlugin({ env, configFile });
      const exit = await Promise.race([p.exited, sleep(10_000, 'timeout', { ref: false })]);
      if (exit === 'timeout') p.child.kill('SIGKILL');
      assert.notEqual(exit, 'timeout', 'the plugin must exit by itself');
      assert.notEqual(exit.code, 0);
      assert.equal(p.stdout, '');
      assert.match(p.stderr, /STORAGE_PLUGIN=jaeger/);
      assert.match(p.stderr, /tracebucket serve/);
    }
  });

  test('a host that offers only other protocol versions is refused with a message', async () => {
    const p = startPlugin({ env: { ...GO_PLUGIN_ENV, PLUGIN_PROTOCOL_VERSIONS: '2,3' }, configFile: writeConfig(tempDir()) });
    const exit = await Promise.race([p.exited, sleep(10_000, 'timeout', { ref: false })]);
    if (exit === 'timeout') p.child.kill('SIGKILL');
    assert.notEqual(exit, 'timeout');
    assert.notEqual(exit.code, 0);
    assert.equal(p.stdout, '');
    assert.match(p.stderr, /protocol versions 2,3/);
  });

  test('a host that asks for AutoMTLS is refused with a message (plain gRPC on loopback only)', async () => {
    const p = startPlugin({ env: { ...GO_PLUGIN_ENV, PLUGIN_CLIENT_CERT: '-----BEGIN CERTIFICATE-----\nMIIB\n' },
      configFile: writeConfig(tempDir()) });
    const exit = await Promise.race([p.exited, sleep(10_000, 'timeout', { ref: false })]);
    if (exit === 'timeout') p.child.kill('SIGKILL');
    assert.notEqual(exit, 'timeout');
    assert.notEqual(exit.code, 0);
    assert.equal(p.stdout, '');
    assert.match(p.stderr, /AutoMTLS/);
  });
});
