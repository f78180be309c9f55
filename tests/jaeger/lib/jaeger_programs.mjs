// Jaeger's programs (all-in-one, the v2 `jaeger` binary, tracegen) as child processes of a test: located through
// tests/jaeger/fetch.sh (which fetches and builds them once, cached outside the repository), started with every port
// given explicitly, their output captured for failure messages, and always stopped when the test process ends.
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../interop/lib/server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const JAEGER_TEST_DIR = path.resolve(here, '..');

const MAX_CAPTURE = 256 * 1024;

/**
 * The module copy holding the built programs: runs fetch.sh (a no-op once they are built).
 * @returns {Promise<{dir: string}|{error: string}>} error: why the programs are not available (fetch.sh's stderr tail)
 */
export function fetchJaeger(programs, { version } = {}) {
  const env = { ...process.env };
  if (version) env.JAEGER_VERSION = version;
  return new Promise((resolve) => {
    execFile('bash', [path.join(JAEGER_TEST_DIR, 'fetch.sh'), ...programs], { env, maxBuffer: 16 * MAX_CAPTURE, timeout: 40 * 60_000 },
      (err, stdout, stderr) => {
        const dir = stdout.trim().split('\n').pop();
        if (err || !dir) {
          const tail = stderr.trim().split('\n').slice(-15).join('\n');
          const why = err ? `exit ${err.code ?? err.signal}` : 'no folder printed';
          resolve({ error: `fetch.sh ${programs.join(' ')} (JAEGER_VERSION=${version ?? 'default'}) failed (${why}):\n${tail}` });
        } else {
          resolve({ dir });
        }
      });
  });
}

export const programPath = (dir, name) => path.join(dir, 'cmd', name, name);

/** {name: port} of distinct TCP ports free on 127.0.0.1 a moment ago, none of them in `taken`. */
export async function freePorts(names, taken = []) {
  const ports = {};
  for (const name of names) {
    let port;
    do { port = await freePort(); } while (Object.values(ports).includes(port) || taken.includes(port));
    ports[name] = port;
  }
  return ports;
}

// Jaeger's own tracer must never export to the default OTLP endpoint (localhost:4317), which Jaeger's e2e suite owns:
// sampling off means it exports nothing, and the endpoint names a port of ours in case something samples anyway.
export function quietTracingEnv(deadEndpoint) {
  return { OTEL_TRACES_SAMPLER: 'always_off', OTEL_EXPORTER_OTLP_ENDPOINT: deadEndpoint, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: deadEndpoint };
}

/** `exited`'s value, or 'timeout' after `ms`; the timer never outlives the wait (it would keep node running). */
async function exitedWithin(exited, ms) {
  const ac = new AbortController();
  try {
    return await Promise.race([exited, sleep(ms, 'timeout', { signal: ac.signal }).catch(() => 'aborted')]);
  } finally {
    ac.abort();
  }
}

const live = new Set();
process.on('exit', () => { for (const c of live) { try { c.kill('SIGKILL'); } catch { /* gone */ } } });

/** A started program: output captured, exit observed. */
export class Program {
  constructor(name, binary, args, env = {}) {
    this.name = name;
    this.output = '';
    this.exit = null;
    this.child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    live.add(this.child);
    this.child.unref();
    for (const stream of [this.child.stdout, this.child.stderr]) {
      stream.unref?.();
      stream.setEncoding('utf8');
      stream.on('data', (d) => {
        this.output += d;
        if (this.output.length > 2 * MAX_CAPTURE) this.output = this.output.slice(-MAX_CAPTURE);
      });
    }
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => { live.delete(this.child); this.exit = { code, signal }; resolve(this.exit); });
      this.child.on('error', (error) => { live.delete(this.child); this.exit = { code: null, signal: null, error }; resolve(this.exit); });
    });
  }

  tail(n = 6000) { return this.output.length > n ? `…${this.output.slice(-n)}` : this.output; }

  /** Polls `probe` (async → truthy when ready) until it holds; fails early if the program exits. */
  async waitUntil(probe, { timeoutMs = 60_000, what = 'ready' } = {}) {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (this.exit) throw new Error(`${this.name} exited (${JSON.stringify(this.exit)}) before it was ${what}:\n${this.tail()}`);
      try {
        if (await probe()) return;
      } catch (e) {
        last = e.cause?.code ?? e.message;
      }
      await sleep(100);
    }
    throw new Error(`${this.name} not ${what} within ${timeoutMs} ms (${last}):\n${this.tail()}`);
  }

  /** Resolves to the exit once the program ends by itself; fails after `timeoutMs`. */
  async finished(timeoutMs) {
    const r = await exitedWithin(this.exited, timeoutMs);
    if (r === 'timeout') {
      await this.stop();
      throw new Error(`${this.name} still running after ${timeoutMs} ms; killed it:\n${this.tail()}`);
    }
    return r;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves to the exit. */
  async stop(graceMs = 10_000) {
    if (this.exit) return this.exit;
    this.child.kill('SIGTERM');
    const r = await exitedWithin(this.exited, graceMs);
    if (r === 'timeout') {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    return this.exit;
  }
}

/** GET `url` → parsed JSON (throws unless 200). */
export async function getJson(url, { timeoutMs = 30_000 } = {}) {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url} → ${res.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text);
}

/** GET `url` → status (body drained), never throws on a refused connection (returns 0). */
export async function httpStatus(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}
