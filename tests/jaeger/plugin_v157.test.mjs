// tracebucket as a storage plugin of Jaeger 1.57.0, the last Jaeger with the go-plugin "sidecar" storage
// (SPAN_STORAGE_TYPE=grpc-plugin): all-in-one itself starts the tracebucket binary with a tracebucket YAML file, does
// go-plugin's handshake, writes the spans Jaeger's tracegen sends to its OTLP receiver, reads them back through its
// query API, and stops the plugin when it exits. The YAML also opens tracebucket's HTTP port, so the test compares
// Jaeger's answers with tracebucket's own /api. Every port of both programs is chosen at run time.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { binaryPath } from '../interop/lib/server.mjs';
import { Program, fetchJaeger, freePorts, getJson, httpStatus, programPath, quietTracingEnv } from './lib/jaeger_programs.mjs';
import { TracegenPlan, checkTracegenTrace, runTracegen } from './lib/tracegen.mjs';
import { assertSameApiAnswer, jaegerSpanCounts } from './lib/jaeger_api.mjs';

const JAEGER_VERSION = 'v1.57.0';
// The spans come from the current module's tracegen (lib/tracegen.mjs knows its rules) through OTLP, which 1.57's
// collector receives.
const [old, current] = await Promise.all([fetchJaeger(['all-in-one'], { version: JAEGER_VERSION }), fetchJaeger(['tracegen'])]);
const skip = old.error ?? current.error;

const PLAN = new TracegenPlan({ workers: 2, traces: 12, services: 2, spans: 3, attrs: 2 });
// What Jaeger 1.57's OTLP receiver adds besides span.kind: internal.span.format=otlp on every span, and the tracer's
// name as otel.library.name (its translator's name for the scope; tracebucket keeps such a tag as a span attribute, so
// it reads back as written).
const DERIVED_TAGS = { 'internal.span.format': 'otlp', 'otel.library.name': PLAN.service };
const VISIBLE_TIMEOUT_MS = 30_000;

/** A UDP port that was free on 127.0.0.1 a moment ago (all-in-one 1.57's agent listens on three). */
function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.on('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

/** The pids of `pid`'s children whose executable is `exe`. */
function childrenRunning(pid, exe) {
  const out = execFileSync('ps', ['--ppid', String(pid), '-o', 'pid=,args='], { encoding: 'utf8' }).trim();
  return out ? out.split('\n').map((l) => l.trim().split(/\s+/)).filter(([, cmd]) => cmd === exe).map(([p]) => Number(p)) : [];
}

describe(`tracebucket as the storage plugin of Jaeger all-in-one ${JAEGER_VERSION}`, { skip }, () => {
  let dir;
  let aio;
  let query;
  let tbHttp;
  let pluginPid;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-plugin157-'));
    const tcp = await freePorts(['tbHttp', 'admin', 'collectorGrpc', 'collectorHttp', 'otlpGrpc', 'otlpHttp', 'zipkin',
      'queryGrpc', 'queryHttp', 'agentHttp', 'dead']);
    const udp = {};
    for (const name of ['jaegerBinary', 'jaegerCompact', 'zipkinCompact']) {
      let port;
      do { port = await freeUdpPort(); } while (Object.values(udp).includes(port));
      udp[name] = port;
    }
    const at = (port) => `127.0.0.1:${port}`;
    // The file README.md's "As a storage plugin" describes; grpc_listen would be ignored (the plugin picks a free
    // loopback port and names it in its handshake line).
    const config = path.join(dir, 'tracebucket.yaml');
    fs.writeFileSync(config, `data_dir: ${path.join(dir, 'data')}\nhttp_listen: ${at(tcp.tbHttp)}\n`);
    tbHttp = `http://${at(tcp.tbHttp)}`;
    query = `http://${at(tcp.queryHttp)}`;
    aio = new Program(`all-in-one ${JAEGER_VERSION}`, programPath(old.dir, 'all-in-one'), [
      `--grpc-storage-plugin.binary=${binaryPath()}`,
      `--grpc-storage-plugin.configuration-file=${config}`,
      '--grpc-storage-plugin.log-level=info',
      `--admin.http.host-port=${at(tcp.admin)}`,
      `--collector.grpc-server.host-port=${at(tcp.collectorGrpc)}`,
      `--collector.http-server.host-port=${at(tcp.collectorHttp)}`,
      '--collector.otlp.enabled=true',
      `--collector.otlp.grpc.host-port=${at(tcp.otlpGrpc)}`,
      `--collector.otlp.http.host-port=${at(tcp.otlpHttp)}`,
      `--collector.zipkin.host-port=${at(tcp.zipkin)}`,
      `--query.grpc-server.host-port=${at(tcp.queryGrpc)}`,
      `--query.http-server.host-port=${at(tcp.queryHttp)}`,
      `--http-server.host-port=${at(tcp.agentHttp)}`,
      `--processor.jaeger-binary.server-host-port=${at(udp.jaegerBinary)}`,
      `--processor.jaeger-compact.server-host-port=${at(udp.jaegerCompact)}`,
      `--processor.zipkin-compact.server-host-port=${at(udp.zipkinCompact)}`,
    ], { SPAN_STORAGE_TYPE: 'grpc-plugin', ...quietTracingEnv(`http://${at(tcp.dead)}`) });
    await aio.waitUntil(async () => (await httpStatus(`http://${at(tcp.admin)}/`)) === 200, { what: 'healthy' });

    const plugins = childrenRunning(aio.child.pid, binaryPath());
    assert.equal(plugins.length, 1, `all-in-one should run exactly one tracebucket plugin process: ${plugins}\n${aio.tail()}`);
    [pluginPid] = plugins;
    assert.equal(await httpStatus(`${tbHttp}/ready`), 200, 'the plugin serves its HTTP port from the YAML file');

    await runTracegen(current.dir, PLAN, { exporter: 'otlp-http', endpoint: `http://${at(tcp.otlpHttp)}` });
    const t0 = Date.now();
    let held = 0;
    while (Date.now() - t0 < VISIBLE_TIMEOUT_MS) {
      held = 0;
      for (const service of PLAN.serviceNames) held += jaegerSpanCounts((await getJson(`${tbHttp}/api/traces?service=${service}&limit=1000`)).data).total;
      if (held >= PLAN.totalSpans) break;
      await sleep(200);
    }
    assert.equal(held, PLAN.totalSpans, `the plugin holds ${held} of the ${PLAN.totalSpans} spans sent;\n${aio.tail()}`);
  });

  after(async () => {
    await aio?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('services, operations and span counts through Jaeger are what tracegen sent, as tracebucket answers them', async () => {
    const services = await getJson(`${query}/api/services`);
    assert.deepEqual([...services.data].sort(), PLAN.serviceNames);
    await assertSameApiAnswer(query, tbHttp, '/api/services');
    const wantTraces = PLAN.tracesPerService();
    for (const service of PLAN.serviceNames) {
      await assertSameApiAnswer(query, tbHttp, `/api/services/${service}/operations`);
      const { data } = await getJson(`${query}/api/traces?service=${service}&limit=1000&lookback=1h`);
      assert.equal(data.length, wantTraces[service], `${service}: traces`);
      assert.deepEqual(jaegerSpanCounts(data).byOperation, PLAN.spansPerOperation()[service], `${service}: spans per operation`);
    }
  });

  test('every trace, read by ID through Jaeger unadjusted, matches tracegen\'s rules and tracebucket\'s own answer', async () => {
    let checked = 0;
    for (const service of PLAN.serviceNames) {
      // Jaeger 1.57 always adjusts search results (raw only works by ID), so traces are read one by one with raw=true.
      const { data } = await getJson(`${query}/api/traces?service=${service}&limit=1000&lookback=1h`);
      for (const { traceID } of data) {
        const [trace] = (await getJson(`${query}/api/traces/${traceID}?raw=true`)).data;
        checkTracegenTrace(PLAN, trace, service, DERIVED_TAGS);
        await assertSameApiAnswer(query, tbHttp, `/api/traces/${traceID}?raw=true`);
        checked++;
      }
    }
    assert.equal(checked, PLAN.totalTraces);
  });

  test('stopping Jaeger stops the plugin', async () => {
    const exit = await aio.stop();
    assert.ok(exit.code === 0 || exit.signal === 'SIGTERM', `all-in-one exited with ${JSON.stringify(exit)}:\n${aio.tail()}`);
    const deadline = Date.now() + 10_000;
    while (fs.existsSync(`/proc/${pluginPid}`) && Date.now() < deadline) await sleep(100);
    assert.ok(!fs.existsSync(`/proc/${pluginPid}`), `the tracebucket plugin (pid ${pluginPid}) outlived all-in-one`);
  });
});
