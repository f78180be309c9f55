// Harness around the real tracebucket binary: free ports on 127.0.0.1, a fresh temporary data dir, readiness via
// GET /ready, stderr captured for failure messages, SIGTERM stop asserting exit code 0, kill -9, restart on the
// same data dir.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

/** build/tracebucket of the repository this harness lives in (what scripts/build.sh builds). */
export const DEFAULT_BINARY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'build', 'tracebucket');
export const binaryPath = () => process.env.TB_BINARY || DEFAULT_BINARY;

const live = new Set();
function killAll() {
  for (const child of live) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
}
// Never leave a server behind, whatever the test runner does: children do not keep this process alive (unref
// below), so it always reaches 'exit'; a runner that signals us gets the same clean-up.
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => { killAll(); process.kill(process.pid, sig); });
}

/** A TCP port that was free on 127.0.0.1 a moment ago (the OS picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const MAX_CAPTURE = 256 * 1024;

/**
 * One HTTP(S) request through node:http / node:https, for servers Node's fetch cannot reach: fetch takes no CA of its
 * own nor a client certificate. `tls` ({ca, cert, key} as PEM) goes to the TLS connection; each request opens its own
 * connection.
 * @returns {Promise<{status: number, headers: object, body: string}>}
 */
export function request(url, { method = 'GET', headers = {}, body, tls = {}, timeoutMs = 30_000 } = {}) {
  const client = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(url, { method, headers, ...tls, agent: false, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Resolves to `promise`'s value, or to 'timeout' after `ms`; the timer is cleared either way. */
async function withTimeout(promise, ms) {
  const ac = new AbortController();
  try {
    return await Promise.race([promise, sleep(ms, 'timeout', { signal: ac.signal })]);
  } finally {
    ac.abort();
  }
}

export class TbServer {
  /**
   * Starts a server and waits until GET /ready answers 200.
   * `tls` ({ca, cert?, key?} as PEM): the server serves HTTPS (its --tls-* flags are among extraArgs), and the harness
   * reaches it with these; httpBase is then https://.
   * `enablePurge: false` leaves out --enable-purge.
   * @param {{dataDir?: string, binary?: string, readyTimeoutMs?: number, extraArgs?: string[], env?: object,
   *   tls?: object, enablePurge?: boolean}} opts
   */
  static async start(opts = {}) {
    const s = new TbServer(opts);
    await s.#launch();
    return s;
  }

  constructor({ dataDir, binary, readyTimeoutMs = 20_000, extraArgs = [], env = {}, tls = null, enablePurge = true } = {}) {
    this.binary = binary || binaryPath();
    this.ownsDataDir = !dataDir;
    this.dataDir = dataDir || fs.mkdtempSync(path.join(os.tmpdir(), 'tb-interop-'));
    this.readyTimeoutMs = readyTimeoutMs;
    this.extraArgs = extraArgs;
    this.env = env;
    this.tls = tls;
    this.enablePurge = enablePurge;
    this.child = null;
    this.stderr = '';
    this.stdout = '';
    this.exit = null; // {code, signal} once the process ended
    this.grpcPort = 0;
    this.httpPort = 0;
  }

  get grpcAddress() { return `127.0.0.1:${this.grpcPort}`; }
  get httpBase() { return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.httpPort}`; }

  /** Last part of the server's stderr, for assertion messages. */
  stderrTail(n = 4000) {
    return this.stderr.length > n ? `…${this.stderr.slice(-n)}` : this.stderr;
  }

  describe() {
    return `tracebucket pid ${this.child?.pid} (grpc ${this.grpcAddress}, http ${this.httpBase}, data ${this.dataDir})`;
  }

  async #launch(attempt = 1) {
    if (!fs.existsSync(this.binary)) {
      throw new Error(`tracebucket binary not found at ${this.binary} (set TB_BINARY or build the 'tracebucket' target)`);
    }
    this.grpcPort = await freePort();
    do { this.httpPort = await freePort(); } while (this.httpPort === this.grpcPort);
    this.stderr = '';
    this.stdout = '';
    this.exit = null;
    const args = ['serve', '--data-dir', this.dataDir, '--grpc-listen', this.grpcAddress,
      '--http-listen', `127.0.0.1:${this.httpPort}`, ...(this.enablePurge ? ['--enable-purge'] : []), ...this.extraArgs];
    const child = spawn(this.binary, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.env } });
    this.child = child;
    live.add(child);
    child.unref();
    child.stdout.unref?.();
    child.stderr.unref?.();
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d) => { if (this.stdout.length < MAX_CAPTURE) this.stdout += d; });
    child.stderr.on('data', (d) => {
      this.stderr += d;
      if (this.stderr.length > 2 * MAX_CAPTURE) this.stderr = this.stderr.slice(-MAX_CAPTURE);
    });
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        live.delete(child);
        this.exit = { code, signal };
        resolve(this.exit);
      });
      child.on('error', (err) => {
        live.delete(child);
        this.exit = { code: null, signal: null, error: err };
        resolve(this.exit);
      });
    });
    try {
      await this.#waitReady();
    } catch (err) {
      const portClash = /address already in use|EADDRINUSE|bind/i.test(this.stderr);
      if (this.child && !this.exit) await this.kill9();
      if (portClash && attempt < 3) return this.#launch(attempt + 1); // someone took the port between probe and bind
      throw err;
    }
  }

  async #waitReady() {
    const deadline = Date.now() + this.readyTimeoutMs;
    let lastErr = 'no answer yet';
    while (Date.now() < deadline) {
      if (this.exit) {
        throw new Error(`tracebucket exited before it was ready (code ${this.exit.code}, signal ${this.exit.signal}`
          + `${this.exit.error ? `, ${this.exit.error.message}` : ''}); args: ${this.child.spawnargs.join(' ')}\n`
          + `stderr:\n${this.stderrTail()}`);
      }
      try {
        let status;
        if (this.tls) {
          status = (await request(`${this.httpBase}/ready`, { tls: this.tls, timeoutMs: 1000 })).status;
        } else {
          const res = await fetch(`${this.httpBase}/ready`, { signal: AbortSignal.timeout(1000) });
          await res.arrayBuffer();
          status = res.status;
        }
        if (status === 200) return;
        lastErr = `GET /ready → ${status}`;
      } catch (e) {
        lastErr = e.cause?.code || e.message;
      }
      await sleep(50);
    }
    throw new Error(`tracebucket not ready within ${this.readyTimeoutMs} ms (${lastErr}); ${this.describe()}\n`
      + `stderr:\n${this.stderrTail()}`);
  }

  /**
   * SIGTERM, wait for the exit and (by default) assert a clean exit code 0.
   * @param {{timeoutMs?: number, expectCode?: number|null}} opts expectCode null: don't check
   */
  async stop({ timeoutMs = 15_000, expectCode = 0 } = {}) {
    if (!this.child) return this.exit;
    if (!this.exit) {
      this.child.kill('SIGTERM');
      const r = await withTimeout(this.exited, timeoutMs);
      if (r === 'timeout') {
        await this.kill9();
        throw new Error(`tracebucket did not exit within ${timeoutMs} ms of SIGTERM; killed it. stderr:\n${this.stderrTail()}`);
      }
    }
    const { code, signal } = this.exit;
    if (expectCode !== null && code !== expectCode) {
      throw new Error(`tracebucket exited with code ${code}, signal ${signal} after SIGTERM (expected ${expectCode});`
        + ` stderr:\n${this.stderrTail()}`);
    }
    return this.exit;
  }

  /** SIGKILL now (no clean shutdown) and wait for the process to be gone. */
  async kill9() {
    if (this.child && !this.exit) {
      this.child.kill('SIGKILL');
      // The child is unref'd: a pending timer keeps the event loop alive until its exit is seen.
      const r = await withTimeout(this.exited, 10_000);
      if (r === 'timeout') throw new Error(`tracebucket pid ${this.child.pid} still running 10 s after SIGKILL`);
    }
    return this.exit;
  }

  /** Starts the binary again on the same data dir (fresh ports). The previous process must have ended. */
  async restart() {
    if (this.child && !this.exit) throw new Error('restart() while the server is still running; stop() or kill9() first');
    await this.#launch();
    return this;
  }

  /** Stops the server if running (SIGTERM, tolerant) and removes the data dir if we created it. */
  async dispose() {
    try {
      if (this.child && !this.exit) await this.stop({ expectCode: null });
    } finally {
      if (this.ownsDataDir) fs.rmSync(this.dataDir, { recursive: true, force: true });
    }
  }

  // --- HTTP -------------------------------------------------------------------------------------------------------

  async purge() {
    const res = await fetch(`${this.httpBase}/purge`, { method: 'POST', signal: AbortSignal.timeout(30_000) });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`POST /purge → ${res.status}: ${body}`);
  }

  /**
   * POST /admin/flush: cuts the head into a block and returns once the block is durable in the object store.
   * @returns {Promise<number>} the number of blocks the server serves afterwards ("flushed; N blocks")
   */
  async flush() {
    const res = await fetch(`${this.httpBase}/admin/flush`, { method: 'POST', signal: AbortSignal.timeout(120_000) });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`POST /admin/flush → ${res.status}: ${body}\nstderr:\n${this.stderrTail()}`);
    const m = body.match(/(\d+) blocks?/);
    if (!m) throw new Error(`POST /admin/flush → 200 with an unexpected body: ${body}`);
    return Number(m[1]);
  }

  /**
   * POST /v1/traces.
   * @param {string|Buffer|Uint8Array} body
   * @param {{contentType?: string, headers?: object, timeoutMs?: number}} opts
   * @returns {Promise<{status: number, headers: Headers, body: Buffer}>}
   */
  async postTraces(body, { contentType = 'application/json', headers = {}, timeoutMs = 30_000 } = {}) {
    const res = await fetch(`${this.httpBase}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': contentType, ...headers },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
  }

  /** POST OTLP/JSON text; throws unless 200. */
  async postJson(text) {
    const r = await this.postTraces(text, { contentType: 'application/json' });
    if (r.status !== 200) throw new Error(`POST /v1/traces (json) → ${r.status}: ${r.body.toString('utf8').slice(0, 500)}`);
    return r;
  }
}
