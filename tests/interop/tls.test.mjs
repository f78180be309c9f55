// TLS and mutual TLS on both listeners (issue 11 item 3) through real clients: curl, @grpc/grpc-js TLS credentials and
// the OpenTelemetry JS OTLP exporters (gRPC, HTTP protobuf, HTTP JSON) over TLS with a bearer token. The certificates
// are made here with the openssl command line: a CA, a server certificate for 127.0.0.1 and localhost, a client
// certificate of that CA and one of another CA. Unusable files stop the server at start, naming the key.
// Admin doors (issue 11 item 4): the operator's commands take POST only, a state-changing request from a page of a
// foreign origin is refused, and /purge stays off without --enable-purge.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import grpc from '@grpc/grpc-js';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { TbServer, binaryPath, request } from './lib/server.mjs';
import { TbClients, withMetadata } from './lib/clients.mjs';
import { makeProvider, runWorkload } from './lib/sdk.mjs';
import { makeCertificates } from './lib/pki.mjs';
import { oneSpanRequest, otlpJsonToProto } from './lib/fixtures.mjs';

const secret = (name) => `${name}-${crypto.randomBytes(16).toString('hex')}`;
const TOKENS = { writer: secret('writer'), reader: secret('reader') };
const bearer = (who) => ({ authorization: `Bearer ${TOKENS[who]}` });
const sha256 = (text) => crypto.createHash('sha256').update(text).digest('hex');
const AUTH_YAML = [
  'auth:',
  '  tokens:',
  `    - token_sha256: "${sha256(TOKENS.writer)}"`,
  '      roles: [write]',
  `    - token_sha256: "${sha256(TOKENS.reader)}"`,
  '      roles: [read]',
  '',
].join('\n');

/** curl as an operator runs it; `args` before the URL. Returns curl's exit code, the HTTP status and the body. */
function curl(url, args = []) {
  const r = spawnSync('curl', ['-sS', '--max-time', '20', '-o', '-', '-w', '\n%{http_code}', ...args, url], { encoding: 'utf8' });
  const cut = r.stdout.lastIndexOf('\n');
  return { exit: r.status, status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut), stderr: r.stderr };
}

/** 'ok' or the gRPC status name of the failure. */
async function grpcOutcome(call) {
  try {
    await call();
    return 'ok';
  } catch (e) {
    return grpc.status[e.code] ?? String(e.code);
  }
}

const otlpRequest = (service) => otlpJsonToProto(oneSpanRequest(service));

/** Runs a small SDK workload through `exporter`; the recording of every export. */
async function exportWorkload(exporter, service) {
  const { provider, recording } = makeProvider(exporter, { 'service.name': service });
  runWorkload(provider.getTracer('tls'), { requests: 3 });
  await provider.forceFlush().catch(() => {});
  await provider.shutdown().catch(() => {});
  return recording;
}

let dir;
let pki;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-tls-'));
  pki = makeCertificates(dir);
  fs.writeFileSync(path.join(dir, 'auth.yaml'), AUTH_YAML);
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const tlsArgs = (mutual) => ['--config', pki.file('auth.yaml'), '--tls-cert', pki.file('server.crt'), '--tls-key',
  pki.file('server.key'), ...(mutual ? ['--tls-client-ca', pki.file('test-ca.crt')] : [])];

/** Registers before/after hooks of the enclosing describe: a server started with `options`, stopped afterwards. */
function useServer(options) {
  const ctx = {};
  before(async () => {
    ctx.server = await TbServer.start(typeof options === 'function' ? options() : options);
  }, { timeout: 60_000 });
  after(async () => {
    if (ctx.server) {
      try { await ctx.server.stop(); } finally { await ctx.server.dispose(); }
    }
  }, { timeout: 60_000 });
  return ctx;
}

describe('unusable TLS files stop the start, naming the key', () => {
  const start = (args) => {
    const data = fs.mkdtempSync(path.join(dir, 'data-'));
    const r = spawnSync(binaryPath(), ['serve', '--data-dir', data, '--grpc-listen', '127.0.0.1:0', '--http-listen',
      '127.0.0.1:0', ...args], { encoding: 'utf8', timeout: 20_000 });
    return { code: r.status, stderr: r.stderr };
  };
  test('a key that is not the certificate\'s, a missing file, a file without a certificate, a certificate alone', () => {
    const cases = [
      [['--tls-cert', pki.file('server.crt'), '--tls-key', pki.file('client.key')], 1, /tls\.key_file: .*client\.key is not the key of the certificate in .*server\.crt/],
      [['--tls-cert', pki.file('missing.crt'), '--tls-key', pki.file('server.key')], 1, /tls\.cert_file: cannot read .*missing\.crt: No such file/],
      [['--tls-cert', pki.file('server.key'), '--tls-key', pki.file('server.key')], 1, /tls\.cert_file: .*server\.key holds no PEM certificate/],
      [['--tls-cert', pki.file('server.crt'), '--tls-key', pki.file('server.crt')], 1, /tls\.key_file: .*server\.crt holds no unencrypted PEM private key/],
      [['--tls-cert', pki.file('server.crt'), '--tls-key', pki.file('server.key'), '--tls-client-ca', pki.file('client.key')], 1, /tls\.client_ca_file: .*client\.key holds no PEM certificate/],
      [['--tls-cert', pki.file('server.crt')], 2, /tls\.cert_file and tls\.key_file: give both or neither/],
      [['--tls-client-ca', pki.file('test-ca.crt')], 2, /tls\.client_ca_file: needs tls\.cert_file/],
    ];
    for (const [args, code, message] of cases) {
      const r = start(args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
    }
  });
});

describe('TLS on both listeners, with bearer tokens', () => {
  const ctx = useServer(() => ({ extraArgs: tlsArgs(false), tls: { ca: pki.ca } }));

  test('curl over HTTPS with the CA, by name and by address; refused without the CA; no plain HTTP', () => {
    const ca = ['--cacert', pki.file('test-ca.crt')];
    const services = curl(`https://localhost:${ctx.server.httpPort}/api/services`, [...ca, '-H', `authorization: Bearer ${TOKENS.reader}`]);
    assert.equal(services.exit, 0, services.stderr);
    assert.equal(services.status, 200, services.body);
    assert.deepEqual(JSON.parse(services.body).data, []);
    assert.equal(curl(`${ctx.server.httpBase}/ready`, ca).status, 200);
    // The token is still needed over TLS.
    assert.equal(curl(`${ctx.server.httpBase}/api/services`, ca).status, 401);
    const noCa = curl(`${ctx.server.httpBase}/ready`);
    assert.equal(noCa.exit, 60, `curl without the CA must not trust the server: ${noCa.stderr}`);
    const plain = curl(`http://127.0.0.1:${ctx.server.httpPort}/ready`);
    assert.notEqual(plain.exit, 0, 'plain HTTP on the TLS port');
    assert.notEqual(plain.status, 200);
  });

  test('grpc-js with TLS credentials and a bearer token; plain text and an unknown CA fail', async () => {
    const token = { interceptors: [withMetadata(bearer('writer'))] };
    const tls = new TbClients(ctx.server.grpcAddress, token, grpc.credentials.createSsl(pki.ca));
    const byName = new TbClients(`localhost:${ctx.server.grpcPort}`, { interceptors: [withMetadata(bearer('reader'))] },
      grpc.credentials.createSsl(pki.ca));
    const systemRoots = new TbClients(ctx.server.grpcAddress, token, grpc.credentials.createSsl());
    const plain = new TbClients(ctx.server.grpcAddress, token);
    try {
      await tls.export(otlpRequest('grpc-over-tls'));
      assert.ok((await byName.getServices()).services.includes('grpc-over-tls'));
      assert.equal(await grpcOutcome(() => systemRoots.export(otlpRequest('x'), { deadlineMs: 5000 })), 'UNAVAILABLE');
      assert.equal(await grpcOutcome(() => plain.export(otlpRequest('x'), { deadlineMs: 5000 })), 'UNAVAILABLE');
    } finally {
      for (const c of [tls, byName, systemRoots, plain]) c.close();
    }
  });

  test('the OpenTelemetry JS OTLP exporters over TLS with a bearer header', async () => {
    const metadata = new grpc.Metadata();
    metadata.set('authorization', bearer('writer').authorization);
    const exporters = {
      'tls-otlp-grpc': new GrpcExporter({ url: `https://${ctx.server.grpcAddress}`, credentials: grpc.credentials.createSsl(pki.ca), metadata, timeoutMillis: 20_000 }),
      'tls-otlp-proto': new ProtoExporter({ url: `${ctx.server.httpBase}/v1/traces`, headers: bearer('writer'), httpAgentOptions: { ca: pki.ca }, timeoutMillis: 20_000 }),
      'tls-otlp-json': new JsonExporter({ url: `${ctx.server.httpBase}/v1/traces`, headers: bearer('writer'), httpAgentOptions: { ca: pki.ca }, compression: 'gzip', timeoutMillis: 20_000 }),
    };
    for (const [service, exporter] of Object.entries(exporters)) {
      const recording = await exportWorkload(exporter, service);
      assert.deepEqual(recording.failures().map((f) => String(f.error)), [], service);
      assert.ok(recording.exportedSpans > 0, service);
    }
    const reader = new TbClients(ctx.server.grpcAddress, { interceptors: [withMetadata(bearer('reader'))] }, grpc.credentials.createSsl(pki.ca));
    try {
      const { services } = await reader.getServices();
      for (const service of Object.keys(exporters)) assert.ok(services.includes(service), `${service} in ${services}`);
    } finally {
      reader.close();
    }
    // Without the CA the exporter does not trust the server and sends nothing.
    const untrusting = await exportWorkload(
      new JsonExporter({ url: `${ctx.server.httpBase}/v1/traces`, headers: bearer('writer'), timeoutMillis: 10_000 }), 'tls-untrusting');
    assert.ok(untrusting.failures().length > 0, 'an export to an unknown CA must fail');
    assert.match(String(untrusting.failures()[0].error), /self.signed|certificate/i);
  });
});

describe('mutual TLS: client certificates of tls.client_ca_file', () => {
  const ctx = useServer(() => ({ extraArgs: tlsArgs(true), tls: { ca: pki.ca } }));

  test('curl: a client certificate of the CA is needed for everything but /live and /ready', () => {
    const ca = ['--cacert', pki.file('test-ca.crt')];
    const withCert = [...ca, '--cert', pki.file('client.crt'), '--key', pki.file('client.key')];
    const token = ['-H', `authorization: Bearer ${TOKENS.reader}`];
    const ok = curl(`https://localhost:${ctx.server.httpPort}/api/services`, [...withCert, ...token]);
    assert.equal(ok.status, 200, `${ok.body} ${ok.stderr}`);
    const noCert = curl(`${ctx.server.httpBase}/api/services`, [...ca, ...token]);
    assert.equal(noCert.status, 401, noCert.body);
    const json = JSON.parse(noCert.body);
    assert.equal(json.code, 16);
    assert.match(json.message, /client certificate/);
    for (const probe of ['/live', '/ready']) assert.equal(curl(`${ctx.server.httpBase}${probe}`, ca).status, 200, probe);
    // A certificate of another CA fails the handshake itself.
    const stranger = curl(`${ctx.server.httpBase}/ready`, [...ca, '--cert', pki.file('stranger.crt'), '--key', pki.file('stranger.key')]);
    assert.notEqual(stranger.exit, 0, `a stranger's certificate was accepted: HTTP ${stranger.status}`);
  });

  test('grpc-js: the handshake needs a client certificate of the CA', async () => {
    const token = { interceptors: [withMetadata(bearer('reader'))] };
    const outcome = async (credentials) => {
      const c = new TbClients(ctx.server.grpcAddress, token, credentials);
      try {
        return await grpcOutcome(() => c.getServices({ deadlineMs: 5000 }));
      } finally {
        c.close();
      }
    };
    assert.equal(await outcome(grpc.credentials.createSsl(pki.ca, pki.client.key, pki.client.cert)), 'ok');
    assert.equal(await outcome(grpc.credentials.createSsl(pki.ca)), 'UNAVAILABLE');
    assert.equal(await outcome(grpc.credentials.createSsl(pki.ca, pki.stranger.key, pki.stranger.cert)), 'UNAVAILABLE');
  });

  test('the OpenTelemetry JS OTLP exporters with a client certificate and a bearer header', async () => {
    const metadata = new grpc.Metadata();
    metadata.set('authorization', bearer('writer').authorization);
    const agent = { ca: pki.ca, cert: pki.client.cert, key: pki.client.key };
    const exporters = {
      'mtls-otlp-grpc': new GrpcExporter({ url: `https://${ctx.server.grpcAddress}`, credentials: grpc.credentials.createSsl(pki.ca, pki.client.key, pki.client.cert), metadata, timeoutMillis: 20_000 }),
      'mtls-otlp-proto': new ProtoExporter({ url: `${ctx.server.httpBase}/v1/traces`, headers: bearer('writer'), httpAgentOptions: agent, timeoutMillis: 20_000 }),
    };
    for (const [service, exporter] of Object.entries(exporters)) {
      const recording = await exportWorkload(exporter, service);
      assert.deepEqual(recording.failures().map((f) => String(f.error)), [], service);
    }
    const reader = new TbClients(ctx.server.grpcAddress, { interceptors: [withMetadata(bearer('reader'))] },
      grpc.credentials.createSsl(pki.ca, pki.client.key, pki.client.cert));
    try {
      const { services } = await reader.getServices();
      for (const service of Object.keys(exporters)) assert.ok(services.includes(service), `${service} in ${services}`);
    } finally {
      reader.close();
    }
    // Without its certificate the HTTP exporter is refused with 401.
    const refused = await exportWorkload(
      new JsonExporter({ url: `${ctx.server.httpBase}/v1/traces`, headers: bearer('writer'), httpAgentOptions: { ca: pki.ca }, timeoutMillis: 10_000 }),
      'mtls-no-certificate');
    assert.deepEqual([...new Set(refused.failures().map((f) => f.error?.code))], [401]);
  });
});

describe('admin doors: POST only, no foreign origins, purge off by default', () => {
  const ctx = useServer({ extraArgs: ['--cors-allowed-origins', 'http://ui.example:16686'] });
  const call = (method, route, headers = {}, body = undefined) =>
    request(`${ctx.server.httpBase}${route}`, { method, headers, body });

  test('the operator\'s commands answer any other method with 405, Allow: POST and a JSON error', async () => {
    for (const route of ['/admin/flush', '/admin/compact', '/purge']) {
      for (const method of ['GET', 'HEAD', 'PUT', 'DELETE']) {
        const res = await call(method, route);
        assert.equal(res.status, 405, `${method} ${route}: ${res.body}`);
        assert.equal(res.headers.allow, 'POST', `${method} ${route}`);
        if (method === 'HEAD') continue;
        const json = JSON.parse(res.body);
        assert.equal(json.code, 3);
        assert.match(json.message, /POST only/);
      }
      assert.equal((await call('POST', route)).status, 200, `POST ${route}`);
    }
    // The block list changes nothing and stays a GET.
    assert.equal((await call('GET', '/admin/blocks')).status, 200);
  });

  test('a state-changing request from a page of an origin not allowed is refused with 403; reads and allowed origins pass', async () => {
    const otlp = JSON.stringify(oneSpanRequest('kept'));
    assert.equal((await call('POST', '/v1/traces', { 'content-type': 'application/json' }, otlp)).status, 200);
    const evil = { origin: 'http://evil.example' };
    // A form post needs no preflight: text/plain is a "simple" content type.
    for (const route of ['/admin/flush', '/admin/compact', '/purge', '/v1/traces']) {
      const res = await call('POST', route, { ...evil, 'content-type': 'text/plain' }, otlp);
      assert.equal(res.status, 403, `${route}: ${res.body}`);
      const json = JSON.parse(res.body);
      assert.equal(json.code, 7);
      assert.match(json.message, /origin 'http:\/\/evil\.example'.*http\.cors\.allowed_origins/);
    }
    assert.equal((await call('POST', '/admin/flush', { origin: 'null' })).status, 403, 'a sandboxed page (Origin: null)');
    // The refused purge deleted nothing.
    const services = await call('GET', '/api/services', evil);
    assert.equal(services.status, 200, 'reads are not refused: without CORS headers the page cannot read them');
    assert.deepEqual(JSON.parse(services.body).data, ['kept']);
    assert.equal(services.headers['access-control-allow-origin'], undefined);
    // An allowed origin may; the server's own origin may not (it serves no pages, and a page that rebinds its DNS name
    // to the server sends an Origin that matches its Host).
    assert.equal((await call('POST', '/admin/flush', { origin: 'http://ui.example:16686' })).status, 200);
    assert.equal((await call('POST', '/admin/flush', { origin: `http://127.0.0.1:${ctx.server.httpPort}` })).status, 403);
    assert.equal((await call('POST', '/admin/flush', { origin: 'http://rebound.example:4318', host: 'rebound.example:4318' })).status, 403);
    assert.equal((await call('POST', '/admin/flush', { origin: 'http://ui.example:16687' })).status, 403, 'another port is another origin');
  });

  test('/purge stays off without --enable-purge', async () => {
    const off = await TbServer.start({ enablePurge: false });
    try {
      const res = await request(`${off.httpBase}/purge`, { method: 'POST' });
      assert.equal(res.status, 404);
      assert.match(res.body, /purge is disabled; start the server with --enable-purge/);
    } finally {
      try { await off.stop(); } finally { await off.dispose(); }
    }
  });
});
