// Bearer tokens (issue 11 item 2): a token × role × door matrix through real clients — grpc-js (OTLP Export, Remote
// Storage v2 and v1), the OpenTelemetry JS SDK's OTLP/HTTP exporter with an authorization header, and Node's fetch
// (OTLP/HTTP, /api, /api/v3, /admin/*, /purge, /metrics). Tenancy is on; the tokens are configured as in the issue
// (a SHA-256 digest or a file, a tenant list, roles).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import grpc from '@grpc/grpc-js';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { TbServer } from './lib/server.mjs';
import { TbClients, withMetadata } from './lib/clients.mjs';
import { V1Clients } from './lib/storage_v1.mjs';
import { oneSpanRequest, otlpJsonToProto, timestampFromNanos } from './lib/fixtures.mjs';
import { makeProvider, runWorkload } from './lib/sdk.mjs';

const secret = (name) => `${name}-${crypto.randomBytes(16).toString('hex')}`;
const TOKENS = { writer: secret('writer'), reader: secret('reader'), admin: secret('admin'), bogus: secret('bogus') };
const sha256 = (text) => crypto.createHash('sha256').update(text).digest('hex');

function configYaml(dir) {
  const readerFile = path.join(dir, 'reader.token');
  fs.writeFileSync(readerFile, `${TOKENS.reader}\n`, { mode: 0o600 });
  return [
    'tenancy:',
    '  enabled: true',
    '  tenants: [team-a, team-b, team-z]',
    'auth:',
    '  tokens:',
    `    - token_sha256: "${sha256(TOKENS.writer)}"`,
    '      tenants: [team-a]',
    '      roles: [write]',
    `    - token_file: ${readerFile}`,
    '      tenants: ["*"]',
    '      roles: [read]',
    `    - token_sha256: "${sha256(TOKENS.admin)}"`,
    '      tenants: [team-a, team-b]',
    '      roles: [admin, read]',
    '',
  ].join('\n');
}

const headersOf = (caller, tenant = 'team-a') => ({
  ...(tenant ? { 'x-tenant': tenant } : {}),
  ...(TOKENS[caller] ? { authorization: `Bearer ${TOKENS[caller]}` } : {}),
});

const otlpRequest = oneSpanRequest;
const toProto = otlpJsonToProto;
function v1Span(service) {
  return {
    traceId: crypto.randomBytes(16), spanId: crypto.randomBytes(8), operationName: 'v1-op',
    startTime: timestampFromNanos(BigInt(Date.now() - 10_000) * 1_000_000n), duration: { seconds: 0, nanos: 1_000_000 },
    process: { serviceName: service, tags: [] },
  };
}

const GRPC_CODE = { [grpc.status.UNAUTHENTICATED]: 'UNAUTHENTICATED', [grpc.status.PERMISSION_DENIED]: 'PERMISSION_DENIED' };
const HTTP_CODE = { 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED' };

/** Runs a gRPC call: 'ok', or the refusal's code name (anything else fails the test). */
async function grpcOutcome(call) {
  try {
    await call();
    return 'ok';
  } catch (e) {
    if (GRPC_CODE[e.code]) return GRPC_CODE[e.code];
    throw e;
  }
}

describe('bearer tokens: token × role × door', () => {
  let server;
  let dir;
  const clients = {};

  // Every door with its role; `call(caller)` answers 'ok', 'UNAUTHENTICATED' or 'PERMISSION_DENIED'.
  const http = async (caller, method, route, body) => {
    const res = await fetch(`${server.httpBase}${route}`, {
      method, body, headers: { ...headersOf(caller), 'content-type': 'application/json' },
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    if (res.status === 200) return 'ok';
    const outcome = HTTP_CODE[res.status];
    assert.ok(outcome, `${method} ${route} as ${caller}: HTTP ${res.status} ${text}`);
    const json = JSON.parse(text);
    assert.equal(json.code, res.status === 401 ? 16 : 7, text);
    assert.ok(json.message.length > 0);
    assert.equal(res.headers.get('www-authenticate'), res.status === 401 ? 'Bearer' : null, `${route}: WWW-Authenticate`);
    for (const token of Object.values(TOKENS)) assert.ok(!text.includes(token), 'a token in an answer');
    return outcome;
  };
  const DAY = { start: timestampFromNanos(BigInt(Date.now() - 86_400_000) * 1_000_000n), end: timestampFromNanos(BigInt(Date.now()) * 1_000_000n) };
  const DOORS = [
    { name: 'OTLP gRPC Export', role: 'write', call: (c) => grpcOutcome(() => clients[c].tb.export(toProto(otlpRequest('grpc-writer')))) },
    { name: 'OTLP/HTTP POST /v1/traces', role: 'write', call: (c) => http(c, 'POST', '/v1/traces', JSON.stringify(otlpRequest('http-writer'))) },
    { name: 'v1 WriteSpan', role: 'write', call: (c) => grpcOutcome(() => clients[c].v1.writeSpan(v1Span('v1-writer'))) },
    { name: 'v2 GetServices', role: 'read', call: (c) => grpcOutcome(() => clients[c].tb.getServices()) },
    { name: 'v2 FindTraceIDs', role: 'read', call: (c) => grpcOutcome(() => clients[c].tb.findTraceIds({ serviceName: 'x', startTimeMin: DAY.start, startTimeMax: DAY.end })) },
    { name: 'v2 GetDependencies', role: 'read', call: (c) => grpcOutcome(() => clients[c].tb.getDependencies(DAY.start, DAY.end)) },
    { name: 'v1 GetServices', role: 'read', call: (c) => grpcOutcome(() => clients[c].v1.getServices()) },
    { name: 'v1 GetDependencies', role: 'read', call: (c) => grpcOutcome(() => clients[c].v1.getDependencies(DAY.start, DAY.end)) },
    { name: 'GET /api/services', role: 'read', call: (c) => http(c, 'GET', '/api/services') },
    { name: 'GET /api/dependencies', role: 'read', call: (c) => http(c, 'GET', `/api/dependencies?endTs=${Date.now()}`) },
    { name: 'GET /api/v3/services', role: 'read', call: (c) => http(c, 'GET', '/api/v3/services') },
    { name: 'GET /admin/blocks', role: 'admin', call: (c) => http(c, 'GET', '/admin/blocks') },
    { name: 'POST /admin/flush', role: 'admin', call: (c) => http(c, 'POST', '/admin/flush') },
    { name: 'POST /purge', role: 'admin', call: (c) => http(c, 'POST', '/purge') },
  ];
  const ROLES = { writer: ['write'], reader: ['read'], admin: ['admin', 'read'] };
  const expected = (caller, role) => {
    if (!ROLES[caller]) return 'UNAUTHENTICATED';
    return ROLES[caller].includes(role) ? 'ok' : 'PERMISSION_DENIED';
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-auth-'));
    const file = path.join(dir, 'tracebucket.yaml');
    fs.writeFileSync(file, configYaml(dir));
    server = await TbServer.start({ extraArgs: ['--config', file, '--no-background-flush', '--log-level', 'debug'] });
    for (const caller of ['none', 'bogus', 'writer', 'reader', 'admin']) {
      const options = { interceptors: [withMetadata(headersOf(caller))] };
      clients[caller] = { tb: new TbClients(server.grpcAddress, options), v1: new V1Clients(server.grpcAddress, options) };
    }
  }, { timeout: 60_000 });

  after(async () => {
    for (const c of Object.values(clients)) { c.tb.close(); c.v1.close(); }
    if (server) {
      try { await server.stop(); } finally { await server.dispose(); }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }, { timeout: 60_000 });

  test('a token bound to one tenant writes there without the tenant header; others must name theirs', async () => {
    const noTenant = (caller) => ({ interceptors: [withMetadata(headersOf(caller, null))] });
    const writer = new TbClients(server.grpcAddress, noTenant('writer'));
    const admin = new TbClients(server.grpcAddress, noTenant('admin'));
    try {
      await writer.export(toProto(otlpRequest('implied-tenant')));
      assert.deepEqual((await clients.reader.tb.getServices()).services, ['implied-tenant'], 'team-a holds the span');
      const teamB = new TbClients(server.grpcAddress, { interceptors: [withMetadata(headersOf('reader', 'team-b'))] });
      assert.deepEqual((await teamB.getServices()).services, [], 'team-b does not');
      teamB.close();
      // The admin token names two tenants, so it must say which.
      assert.equal(await grpcOutcome(() => admin.getServices()), 'UNAUTHENTICATED');
    } finally {
      writer.close();
      admin.close();
    }
  });

  test('a token may not name a tenant outside its list', async () => {
    const asTeamB = (caller) => new TbClients(server.grpcAddress, { interceptors: [withMetadata(headersOf(caller, 'team-b'))] });
    const writer = asTeamB('writer');
    const admin = asTeamB('admin');
    const readerZ = new TbClients(server.grpcAddress, { interceptors: [withMetadata(headersOf('reader', 'team-z'))] });
    try {
      assert.equal(await grpcOutcome(() => writer.export(toProto(otlpRequest('x')))), 'PERMISSION_DENIED');
      assert.equal(await grpcOutcome(() => admin.getServices()), 'ok');
      assert.equal(await grpcOutcome(() => readerZ.getServices()), 'ok', 'the reader token takes any tenant ("*")');
    } finally {
      writer.close();
      admin.close();
      readerZ.close();
    }
  });

  test('the OpenTelemetry JS OTLP/HTTP exporter sends with a bearer header', async () => {
    const exporter = new JsonExporter({ url: `${server.httpBase}/v1/traces`, headers: headersOf('writer'), timeoutMillis: 20_000 });
    const { provider, recording } = makeProvider(exporter, { 'service.name': 'sdk-with-token' });
    runWorkload(provider.getTracer('auth'), { requests: 3 });
    await provider.forceFlush();
    await provider.shutdown();
    assert.deepEqual(recording.failures().map((f) => `${f.error?.code} ${f.error?.data}`), []);
    assert.ok(recording.exportedSpans > 0);
    assert.ok((await clients.reader.tb.getServices()).services.includes('sdk-with-token'));
    // Without the token the same exporter fails.
    const refused = new JsonExporter({ url: `${server.httpBase}/v1/traces`, headers: { 'x-tenant': 'team-a' }, timeoutMillis: 20_000 });
    const run = makeProvider(refused, { 'service.name': 'sdk-without-token' });
    runWorkload(run.provider.getTracer('auth'), { requests: 1 });
    // forceFlush rejects with the export's error, which the recording also holds.
    await run.provider.forceFlush().catch(() => {});
    await run.provider.shutdown().catch(() => {});
    assert.deepEqual(run.recording.failures().map((f) => f.error?.code), [401], 'the export without a token');
  });

  for (const caller of ['none', 'bogus', 'writer', 'reader', 'admin']) {
    test(`caller "${caller}" on every door`, async () => {
      const got = {};
      const want = {};
      for (const door of DOORS) {
        got[door.name] = await door.call(caller);
        want[door.name] = expected(caller, door.role);
      }
      assert.deepEqual(got, want);
    });
  }

  test('/live and /ready need nothing; /metrics needs a token of any role', async () => {
    for (const route of ['/live', '/ready']) assert.equal((await fetch(`${server.httpBase}${route}`)).status, 200, route);
    const metrics = (caller) => fetch(`${server.httpBase}/metrics`, { headers: headersOf(caller, null) });
    assert.equal((await metrics('none')).status, 401);
    assert.equal((await metrics('bogus')).status, 401);
    for (const caller of ['writer', 'reader', 'admin']) assert.equal((await metrics(caller)).status, 200, caller);
  });

  test('no token appears in the server log (debug level)', () => {
    for (const [name, token] of Object.entries(TOKENS)) assert.ok(!server.stderr.includes(token), `${name} token logged`);
  });
});
