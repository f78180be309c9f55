// Compressed gRPC requests (issue 12 item 1), from @grpc/grpc-js with gzip: ordinary requests to every kind of
// service work (OTLP export, storage v2 and v1 reads and writes), and a message that inflates far past
// limits.max_request_size is refused with RESOURCE_EXHAUSTED naming the limit while the server's peak RSS grows by
// far less than the inflated size, because the server inflates under the cap instead of letting gRPC inflate it
// whole first.
//
// grpc-js compresses a call only while it believes the server accepts gzip; after its first call to a C-core server
// it reads the server's grpc-accept-encoding list ("identity, deflate, gzip", with spaces) as not naming gzip and sends
// the rest uncompressed. So each compressed call below goes through a fresh client.
// gRPC's own health and reflection services parse their requests inside libgrpc++ and refuse a compressed one
// (docs/configuration.md, limits.max_request_size); health probes send them uncompressed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import grpc from '@grpc/grpc-js';
import { TbServer } from './lib/server.mjs';
import { TbClients, assembleStream } from './lib/clients.mjs';
import { V1Clients } from './lib/storage_v1.mjs';

const LIMIT = 8 * 1024 * 1024;
const GZIP = { 'grpc.default_compression_algorithm': 2 };

const peakRssKib = (pid) => Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const hex = (n, width) => n.toString(16).padStart(width, '0');

function exportRequest(traceIdHex, { spans = 3, attributeBytes = 0 } = {}) {
  const now = BigInt(Date.now()) * 1_000_000n;
  return {
    resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'compressed-client' } }] },
      scopeSpans: [{
        scope: { name: 'grpc_compression.test' },
        spans: Array.from({ length: spans }, (_, i) => ({
          traceId: Buffer.from(traceIdHex, 'hex'),
          spanId: Buffer.from(hex(i + 1, 16), 'hex'),
          name: `op-${i}`,
          kind: 2,
          startTimeUnixNano: (now + BigInt(i)).toString(),
          endTimeUnixNano: (now + BigInt(i) + 1000n).toString(),
          attributes: attributeBytes ? [{ key: 'payload', value: { stringValue: 'z'.repeat(attributeBytes) } }] : [],
        })),
      }],
    }],
  };
}

/** Runs `fn` with a fresh gzip-compressing client of `Kind`, then closes it. */
async function withGzip(Kind, address, fn) {
  const clients = Kind === V1Clients ? new V1Clients(address, GZIP) : new TbClients(address, GZIP);
  try { return await fn(clients); } finally { clients.close(); }
}

describe('compressed gRPC requests', () => {
  let server;
  before(async () => { server = await TbServer.start({ extraArgs: ['--max-request-size', String(LIMIT)] }); });
  after(async () => { if (server) { await server.stop(); await server.dispose(); } });

  test('an ordinary gzip OTLP export is accepted and its spans read back', async () => {
    const traceId = hex(0xc0ffee, 32);
    const answer = await withGzip(TbClients, server.grpcAddress, (c) => c.export(exportRequest(traceId)));
    assert.ok(!answer.partialSuccess || Number(answer.partialSuccess.rejectedSpans ?? 0) === 0);
    const plain = new TbClients(server.grpcAddress);
    try {
      const { spans } = assembleStream(await plain.getTraces([traceId]));
      assert.equal(spans.length, 3);
    } finally { plain.close(); }
  });

  test('gzip calls to storage v2 and v1 reads and a v1 write succeed', async () => {
    const services = await withGzip(TbClients, server.grpcAddress, (c) => c.getServices());
    assert.ok(services.services.includes('compressed-client'), JSON.stringify(services));
    const ops = await withGzip(TbClients, server.grpcAddress, (c) => c.getOperations('compressed-client'));
    assert.equal(ops.operations.length, 3);
    const v1services = await withGzip(V1Clients, server.grpcAddress, (c) => c.getServices());
    assert.ok(v1services.services.includes('compressed-client'));
    const span = {
      traceId: Buffer.from(hex(0xbeef, 32), 'hex'),
      spanId: Buffer.from(hex(7, 16), 'hex'),
      operationName: 'v1-compressed',
      startTime: { seconds: String(Math.floor(Date.now() / 1000)), nanos: 0 },
      duration: { seconds: '0', nanos: 5000 },
      process: { serviceName: 'compressed-v1' },
    };
    await withGzip(V1Clients, server.grpcAddress, (c) => c.writeSpan(span));
    const trace = await withGzip(V1Clients, server.grpcAddress, (c) => c.getTrace(hex(0xbeef, 32)));
    assert.equal(trace.flatMap((m) => m.spans).length, 1);
  });

  test('a message inflating to 6x the limit is refused naming it, and peak RSS stays O(limit)', async () => {
    // 48 MiB of one repeated byte in one attribute: about 48 KiB once gzipped, far below the limit on the wire.
    // Warm the server up first (threads, arenas), so that the figure is the message's own.
    await withGzip(TbClients, server.grpcAddress, (c) => c.export(exportRequest(hex(0xb0a, 32), { attributeBytes: 1 << 20 })));
    const before = peakRssKib(server.child.pid);
    const err = await withGzip(TbClients, server.grpcAddress,
      (c) => c.export(exportRequest(hex(0xb0b, 32), { spans: 1, attributeBytes: 6 * LIMIT }))).then(
      () => null, (e) => e);
    assert.ok(err, 'the bomb was accepted');
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED, err.message);
    assert.match(err.details, /inflates past limits\.max_request_size \(8388608 bytes\)/);
    const grew = peakRssKib(server.child.pid) - before;
    // gRPC 1.51 alone inflated the whole 64 MiB first; the cap holds at most the limit (plus growth slack).
    console.log(`peak RSS grew by ${grew} KiB while refusing a message inflating to ${6 * LIMIT} bytes`);
    assert.ok(grew < (2 * LIMIT) / 1024, `peak RSS grew by ${grew} KiB`);
    // The server goes on serving, compressed writes included.
    await withGzip(TbClients, server.grpcAddress, (c) => c.export(exportRequest(hex(0xb0c, 32))));
    const plain = new TbClients(server.grpcAddress);
    try {
      assert.equal((await plain.healthCheck('')).status, 1, 'health: SERVING');
      assert.equal(assembleStream(await plain.getTraces([hex(0xb0c, 32)])).spans.length, 3);
      assert.equal((await plain.getTraces([hex(0xb0b, 32)])).length, 0, 'the refused message left no span');
    } finally { plain.close(); }
  });
});
