// Process lifecycle through the same third-party clients: readiness and gRPC health, clean SIGTERM shutdown with
// exit code 0, restart on the same data dir (after SIGTERM and after kill -9) keeping acknowledged writes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { TbServer } from './lib/server.mjs';
import { TbClients, assembleStream } from './lib/clients.mjs';
import { spansFromOtlpJson } from './lib/canonical.mjs';
import { makeDateShift, otlpJsonToProto, shiftedFixtureText } from './lib/fixtures.mjs';
import { assertStreamEquals, readUntil } from './lib/checks.mjs';

const SHIFT = makeDateShift();
const EXAMPLE_ID = '00000000000000000000000000000011';
const exampleText = () => shiftedFixtureText('example_trace', SHIFT);

/** Runs `fn(server, clients)` on a fresh server, always disposing of it. */
async function withServer(fn) {
  const server = await TbServer.start();
  let clients = new TbClients(server.grpcAddress);
  const reconnect = () => { clients.close(); clients = new TbClients(server.grpcAddress); return clients; };
  try {
    await fn(server, () => clients, reconnect);
  } finally {
    clients.close();
    await server.dispose();
  }
}

async function readExample(clients, min = 5) {
  return readUntil(() => clients.getTraces([EXAMPLE_ID]), (m) => assembleStream(m).spans.length >= min);
}

describe('lifecycle', () => {
  test('GET /ready and grpc.health.v1 Check answer SERVING', async () => {
    await withServer(async (server, clients) => {
      const res = await fetch(`${server.httpBase}/ready`);
      assert.equal(res.status, 200);
      const h = await clients().healthCheck('');
      assert.equal(h.status, 1, `health status ${h.status}`); // SERVING
      await server.stop(); // asserts exit code 0
    });
  });

  test('SIGTERM exits 0; a restart on the same data dir serves what was written', async () => {
    await withServer(async (server, clients, reconnect) => {
      await server.postJson(exampleText());
      const expected = spansFromOtlpJson(exampleText());
      assertStreamEquals(await readExample(clients()), expected, 'before restart');
      await server.stop();
      await server.restart();
      const after = await readExample(reconnect());
      assertStreamEquals(after, expected, 'after SIGTERM + restart');
      const services = await clients().getServices();
      assert.deepEqual([...services.services].sort(), ['example-service-1', 'example-service-2', 'example-service-3']);
      await server.stop();
    });
  });

  test('kill -9 after acknowledged writes: a restart still serves them; a purge survives a restart', async () => {
    await withServer(async (server, clients, reconnect) => {
      // write the 5 spans in two acknowledged requests (gRPC and HTTP), then crash
      const doc = JSON.parse(exampleText());
      const first = { resourceSpans: doc.resourceSpans.slice(0, 2) };
      const rest = { resourceSpans: doc.resourceSpans.slice(2) };
      await clients().export(otlpJsonToProto(first));
      await server.postJson(JSON.stringify(rest));
      await server.kill9();
      await server.restart();
      const expected = spansFromOtlpJson(doc);
      assertStreamEquals(await readExample(reconnect(), 5), expected, 'after kill -9 + restart');
      // a purge survives a restart too
      await server.purge();
      await server.stop();
      await server.restart();
      const empty = await reconnect().getTraces([EXAMPLE_ID]);
      assert.equal(empty.length, 0, 'purged data came back after a restart');
      await server.stop();
    });
  });

  // The test setting Jaeger's e2e suite runs its block modes with (tests/jaeger/e2e.sh): once a write is acknowledged
  // it is in a block of its own, and reads are answered from blocks; set by flag or by the YAML key.
  for (const how of ['--flush-every-write', 'flush: {every_write: true}']) {
    test(`${how}: every acknowledged write is already in a new block`, async () => {
      const yaml = path.join(os.tmpdir(), `tb-every-write-${process.pid}.yaml`);
      fs.writeFileSync(yaml, 'flush: {every_write: true}\n');
      const extraArgs = how.startsWith('--') ? [how] : ['--config', yaml];
      const server = await TbServer.start({ extraArgs });
      const clients = new TbClients(server.grpcAddress);
      const metas = () => fs.readdirSync(path.join(server.dataDir, 'blocks'), { recursive: true })
        .filter((f) => /(^|\/)blocks\/[^/]+\/meta$/.test(f)).length;
      try {
        const doc = JSON.parse(exampleText());
        await clients.export(otlpJsonToProto({ resourceSpans: doc.resourceSpans.slice(0, 2) }));
        assert.equal(metas(), 1, 'blocks after the first acknowledged write');
        await server.postJson(JSON.stringify({ resourceSpans: doc.resourceSpans.slice(2) }));
        assert.equal(metas(), 2, 'blocks after the second acknowledged write');
        assertStreamEquals(await clients.getTraces([EXAMPLE_ID]), spansFromOtlpJson(doc), 'read from the two blocks');
        await server.stop();
      } finally {
        clients.close();
        await server.dispose();
        fs.rmSync(yaml, { force: true });
      }
    });
  }

  // A harness that checks for leaked connections when it ends (Jaeger's e2e suite does, with goleak) must not find a
  // kept-alive socket to the server it purged. The answer carries `Connection: close`, so the client closes the
  // connection as soon as it has read it (RFC 9112 §9.6; Go's transport does). The server also shuts down its sending
  // side once the answer is written, and closes the socket when the client has (2 s at most).
  test('POST /purge answers Connection: close', async () => {
    await withServer(async (server) => {
      const answer = await new Promise((resolve, reject) => {
        const socket = net.connect(server.httpPort, '127.0.0.1');
        let text = '';
        socket.setEncoding('utf8');
        socket.on('data', (d) => {
          text += d;
          if (text.endsWith('purged\n')) { socket.destroy(); resolve(text); }
        });
        socket.on('error', reject);
        socket.setTimeout(3000, () => { socket.destroy(); reject(new Error(`no whole answer within 3 s: ${text}`)); });
        socket.write('POST /purge HTTP/1.1\r\nHost: tracebucket\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n');
      });
      assert.match(answer, /^HTTP\/1\.1 200 /);
      assert.match(answer, /\r\nConnection: close\r\n/i);
      await server.stop();
    });
  });

  /** Sends `request` on a raw socket and resolves with what came back before `done(text)` held (3 s at most). */
  function rawExchange(port, request, done) {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (d) => {
        text += d;
        if (done(text)) { socket.destroy(); resolve(text); }
      });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
      socket.setTimeout(3000, () => { socket.destroy(); reject(new Error(`no whole answer within 3 s: ${text}`)); });
      socket.write(request);
    });
  }

  // `curl -X POST URL`, the way an operator types it, sends neither Content-Length nor Transfer-Encoding: HTTP/1.1
  // says that body is empty: the server must not wait for one (cpp-httplib, which served HTTP before, read on until
  // its 5 s timeout and answered 400 "malformed request").
  test('POST /admin/flush with no body and no Content-Length flushes at once', async () => {
    await withServer(async (server, clients) => {
      await clients().export(otlpJsonToProto(exampleText()));
      const flush = 'POST /admin/flush HTTP/1.1\r\nHost: tracebucket\r\n\r\n';
      const answer = await rawExchange(server.httpPort, flush, (t) => t.endsWith('blocks\n'));
      assert.match(answer, /^HTTP\/1\.1 200 [^]*flushed; 1 blocks\n$/, answer);
      const blocks = await (await fetch(`${server.httpBase}/admin/blocks`)).json();
      assert.equal(blocks.blocks.length, 1);
      assert.equal(blocks.blocks[0].spans, spansFromOtlpJson(JSON.parse(exampleText())).length);
      // A body sent anyway is read (within the request-size limit) and ignored.
      const withBody = await fetch(`${server.httpBase}/admin/flush`, { method: 'POST', body: 'ignored' });
      assert.equal(withBody.status, 200, await withBody.text());
      await server.stop();
    });
  });
});
