// The configuration snippets of deploy/ against real programs:
// - deploy/jaeger/jaeger-v2.yaml: the `jaeger` binary (v2, from the Jaeger module) loads it with tracebucket as its
//   remote storage; a trace sent to Jaeger's OTLP port is stored in tracebucket and read back through Jaeger's query
//   API (so through the Remote Storage API v2);
// - deploy/jaeger/jaeger-v2-secure.yaml: the same against a tracebucket with tenants, bearer tokens and mutual TLS
//   (certificates made with openssl): a trace Jaeger receives is stored for the writer token's tenant, and Jaeger's
//   query API finds it for that tenant only;
// - deploy/otel-collector/collector.yaml: the same binary as an OpenTelemetry Collector loads it; a trace sent to
//   its OTLP port arrives in tracebucket;
// - deploy/grafana/datasource.yaml: the requests Grafana's Jaeger data source makes (services, operations, search,
//   trace by ID, dependencies) answer 200 with Jaeger's envelope at the URL the file gives, pointed at tracebucket.
// Each file is used as written except its endpoints, which are moved to free ports (every replaced endpoint must be
// in the file, so the test notices when a snippet changes), and the collector's own metrics, turned off so that it
// binds no fixed port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TbServer, request } from '../interop/lib/server.mjs';
import { makeCertificates } from '../interop/lib/pki.mjs';
import { Program, fetchJaeger, freePorts, getJson, httpStatus, programPath, quietTracingEnv } from './lib/jaeger_programs.mjs';

const fetched = await fetchJaeger(['jaeger']);
const DEPLOY = path.resolve(import.meta.dirname, '..', '..', 'deploy');

/** The snippet with each `from` endpoint replaced (each must occur) and the collector's self-metrics off. */
function adapt(file, replacements) {
  let text = fs.readFileSync(path.join(DEPLOY, file), 'utf8');
  for (const [from, to] of replacements) {
    assert.ok(text.includes(from), `${file} no longer contains ${from}`);
    text = text.replaceAll(from, to);
  }
  assert.match(text, /^service:\n/m);
  return text.replace(/^service:\n/m, 'service:\n  telemetry:\n    metrics:\n      level: none\n');
}

async function startJaeger(name, config, healthPort, deadPort, env = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-snippet-'));
  const file = path.join(dir, 'config.yaml');
  fs.writeFileSync(file, config);
  const program = new Program(name, programPath(fetched.dir, 'jaeger'), ['--config', file],
    { ...quietTracingEnv(`http://127.0.0.1:${deadPort}`), ...env });
  if (healthPort) {
    await program.waitUntil(async () => (await httpStatus(`http://127.0.0.1:${healthPort}/`)) === 200, { what: 'healthy' });
  }
  return { program, dir };
}

/** One two-span trace of `service`, as OTLP/JSON to `url`; returns its trace ID (hex). */
async function sendTrace(url, service) {
  const traceId = [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
  const now = BigInt(Date.now()) * 1_000_000n;
  const span = (spanId, name, parent) => ({ traceId, spanId, parentSpanId: parent, name, kind: 2,
    startTimeUnixNano: String(now - 2_000_000n), endTimeUnixNano: String(now) });
  const body = { resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
    scopeSpans: [{ spans: [span('1111111111111111', 'checkout'), span('2222222222222222', 'charge', '1111111111111111')] }] }] };
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(res.status, 200, await res.text());
  return traceId;
}

/**
 * Polls a Jaeger /api/traces/{id} until it has `spans` spans; `options` as for request() (headers, tls), which is
 * used when given (fetch takes no client certificate).
 */
async function waitForTrace(base, traceId, spans, what, options = null) {
  const deadline = Date.now() + 30_000;
  let last = '';
  while (Date.now() < deadline) {
    const url = `${base}/api/traces/${traceId}`;
    let status;
    let text;
    if (options) {
      ({ status, body: text } = await request(url, options));
    } else {
      const res = await fetch(url);
      status = res.status;
      text = await res.text();
    }
    last = `${status} ${text.slice(0, 300)}`;
    if (status === 200 && JSON.parse(text).data?.[0]?.spans?.length === spans) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`${what}: trace ${traceId} not complete within 30 s (last: ${last})`);
}

test('deploy snippets load in the real programs and carry traces to tracebucket', { skip: fetched.error }, async (t) => {
  const tb = await TbServer.start();
  t.after(() => tb.stop());

  await t.test('jaeger-v2.yaml: Jaeger v2 writes to and reads from tracebucket', async () => {
    const p = await freePorts(['health', 'query', 'queryGrpc', 'otlpGrpc', 'otlpHttp', 'dead'], [tb.grpcPort, tb.httpPort]);
    const config = adapt('jaeger/jaeger-v2.yaml', [
      ['tracebucket:4317', tb.grpcAddress], ['0.0.0.0:13133', `127.0.0.1:${p.health}`],
      ['0.0.0.0:16686', `127.0.0.1:${p.query}`], ['0.0.0.0:16685', `127.0.0.1:${p.queryGrpc}`],
      ['0.0.0.0:4317', `127.0.0.1:${p.otlpGrpc}`], ['0.0.0.0:4318', `127.0.0.1:${p.otlpHttp}`]]);
    const { program, dir } = await startJaeger('jaeger (v2 snippet)', config, p.health, p.dead);
    try {
      const traceId = await sendTrace(`http://127.0.0.1:${p.otlpHttp}/v1/traces`, 'snippet-jaeger');
      await waitForTrace(tb.httpBase, traceId, 2, 'in tracebucket');
      await waitForTrace(`http://127.0.0.1:${p.query}`, traceId, 2, 'through Jaeger query');
      const services = await getJson(`http://127.0.0.1:${p.query}/api/services`);
      assert.ok(services.data.includes('snippet-jaeger'), JSON.stringify(services));
    } finally {
      await program.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  await t.test('jaeger-v2-secure.yaml: Jaeger v2 with a tenant, tokens and mTLS', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-secure-snippet-'));
    const pki = makeCertificates(dir);
    const token = { read: `read-${crypto.randomUUID()}`, write: `write-${crypto.randomUUID()}` };
    const sha256 = async (text) => Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))).toString('hex');
    fs.writeFileSync(path.join(dir, 'tracebucket.yaml'), [
      'tenancy: {enabled: true, tenants: [team-a, team-b]}',
      'auth:',
      '  tokens:',
      `    - {token_sha256: "${await sha256(token.read)}", tenants: ["*"], roles: [read]}`,
      `    - {token_sha256: "${await sha256(token.write)}", tenants: [team-a], roles: [write]}`,
      'tls:',
      `  cert_file: ${pki.file('server.crt')}`,
      `  key_file: ${pki.file('server.key')}`,
      `  client_ca_file: ${pki.file('test-ca.crt')}`,
      ''].join('\n'));
    const secure = await TbServer.start({ extraArgs: ['--config', path.join(dir, 'tracebucket.yaml')], tls: { ca: pki.ca } });
    const p = await freePorts(['health', 'query', 'queryGrpc', 'otlpGrpc', 'otlpHttp', 'dead'], [secure.grpcPort, secure.httpPort]);
    const config = adapt('jaeger/jaeger-v2-secure.yaml', [
      ['tracebucket:4317', secure.grpcAddress], ['0.0.0.0:13133', `127.0.0.1:${p.health}`],
      ['0.0.0.0:16686', `127.0.0.1:${p.query}`], ['0.0.0.0:16685', `127.0.0.1:${p.queryGrpc}`],
      ['0.0.0.0:4317', `127.0.0.1:${p.otlpGrpc}`], ['0.0.0.0:4318', `127.0.0.1:${p.otlpHttp}`],
      ['/etc/jaeger/tracebucket-ca.crt', pki.file('test-ca.crt')], ['/etc/jaeger/client.crt', pki.file('client.crt')],
      ['/etc/jaeger/client.key', pki.file('client.key')]]);
    const { program, dir: jaegerDir } = await startJaeger('jaeger (v2 secure snippet)', config, p.health, p.dead,
      { TRACEBUCKET_READ_TOKEN: token.read, TRACEBUCKET_WRITE_TOKEN: token.write });
    try {
      const traceId = await sendTrace(`http://127.0.0.1:${p.otlpHttp}/v1/traces`, 'snippet-secure');
      // Stored for the write token's tenant, read here over mTLS with the read token.
      const direct = (tenant) => ({ headers: { 'x-tenant': tenant, authorization: `Bearer ${token.read}` },
        tls: { ca: pki.ca, ...pki.client } });
      await waitForTrace(secure.httpBase, traceId, 2, 'in tracebucket for team-a', direct('team-a'));
      assert.equal((await request(`${secure.httpBase}/api/traces/${traceId}`, direct('team-b'))).status, 404, 'not for team-b');
      // Jaeger's query API forwards the tenant of each request.
      const query = `http://127.0.0.1:${p.query}`;
      await waitForTrace(query, traceId, 2, 'through Jaeger query as team-a', { headers: { 'x-tenant': 'team-a' } });
      const services = async (tenant) => JSON.parse((await request(`${query}/api/services`, { headers: { 'x-tenant': tenant } })).body).data ?? [];
      assert.ok((await services('team-a')).includes('snippet-secure'));
      assert.ok(!(await services('team-b')).includes('snippet-secure'), 'team-b does not see team-a\'s service');
      assert.notEqual((await request(`${query}/api/traces/${traceId}`, { headers: { 'x-tenant': 'team-b' } })).status, 200);
    } finally {
      await program.stop();
      await secure.stop();
      await secure.dispose();
      fs.rmSync(jaegerDir, { recursive: true, force: true });
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  await t.test('collector.yaml: an OpenTelemetry Collector exports to tracebucket', async () => {
    const p = await freePorts(['otlpGrpc', 'otlpHttp', 'dead'], [tb.grpcPort, tb.httpPort]);
    const config = adapt('otel-collector/collector.yaml', [
      ['tracebucket:4317', tb.grpcAddress],
      ['0.0.0.0:4317', `127.0.0.1:${p.otlpGrpc}`], ['0.0.0.0:4318', `127.0.0.1:${p.otlpHttp}`]]);
    const { program, dir } = await startJaeger('collector (snippet)', config, 0, p.dead);
    try {
      await program.waitUntil(async () => (await httpStatus(`http://127.0.0.1:${p.otlpHttp}/v1/traces`)) !== 0,
        { what: 'listening' });
      const traceId = await sendTrace(`http://127.0.0.1:${p.otlpHttp}/v1/traces`, 'snippet-collector');
      await waitForTrace(tb.httpBase, traceId, 2, 'in tracebucket through the collector');
    } finally {
      await program.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  await t.test('grafana/datasource.yaml: the data source\'s requests answer at its URL', async () => {
    const text = fs.readFileSync(path.join(DEPLOY, 'grafana', 'datasource.yaml'), 'utf8');
    assert.match(text, /^\s+type: jaeger$/m);
    const url = text.match(/^\s+url: (\S+)$/m)?.[1];
    assert.equal(url, 'http://tracebucket:4318', 'the data source points at tracebucket\'s HTTP port');
    const base = url.replace('http://tracebucket:4318', tb.httpBase);
    const traceId = await sendTrace(`${tb.httpBase}/v1/traces`, 'snippet-grafana');
    const now = Date.now();
    const services = await getJson(`${base}/api/services`);
    assert.ok(services.data.includes('snippet-grafana'));
    const operations = await getJson(`${base}/api/services/snippet-grafana/operations`);
    assert.deepEqual(operations.data.map((o) => o.name ?? o).sort(), ['charge', 'checkout']);
    const search = await getJson(`${base}/api/traces?service=snippet-grafana&start=${(now - 3_600_000) * 1000}`
      + `&end=${(now + 60_000) * 1000}&limit=20`);
    assert.deepEqual(search.data.map((tr) => tr.traceID), [traceId]);
    await waitForTrace(base, traceId, 2, 'trace by ID');
    const deps = await getJson(`${base}/api/dependencies?endTs=${now + 60_000}&lookback=3600000`);
    assert.ok(Array.isArray(deps.data));
  });
});
