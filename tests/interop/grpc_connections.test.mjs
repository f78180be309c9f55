// gRPC connection settings (issue 12 item 4), seen from @grpc/grpc-js: with grpc.max_connection_idle the server
// closes a connection that made no call for that long (the client's channel leaves READY), with
// grpc.max_connection_age it asks even a busy client to reconnect, and calls go on working across each reconnection;
// with the defaults a connection stays open.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import grpc from '@grpc/grpc-js';
import { setTimeout as sleep } from 'node:timers/promises';
import { TbServer } from './lib/server.mjs';
import { TbClients } from './lib/clients.mjs';

const servers = [];
async function serverWith(env) {
  const server = await TbServer.start({ env });
  servers.push(server);
  return server;
}
after(async () => {
  for (const s of servers) {
    try { await s.stop(); } finally { await s.dispose(); }
  }
});

// The channel the read calls below go through.
const stateOf = (clients) => clients.traceReader.getChannel().getConnectivityState(false);

/** Counts the times `channel` leaves READY until stop() is called. */
function countLeavingReady(channel) {
  let left = 0;
  let stopped = false;
  const watch = (state) => {
    if (stopped) return;
    channel.watchConnectivityState(state, Date.now() + 60_000, () => {
      const now = channel.getConnectivityState(false);
      if (state === grpc.connectivityState.READY && now !== grpc.connectivityState.READY) left++;
      watch(now);
    });
  };
  watch(channel.getConnectivityState(false));
  return { stop: () => { stopped = true; return left; } };
}

describe('gRPC connections', () => {
  test('an idle connection is closed after grpc.max_connection_idle; the next call reconnects', async () => {
    const server = await serverWith({ TRACEBUCKET_GRPC_MAX_CONNECTION_IDLE: '500ms' });
    const clients = new TbClients(server.grpcAddress);
    try {
      await clients.getServices();
      assert.equal(stateOf(clients), grpc.connectivityState.READY);
      await sleep(1500);
      assert.notEqual(stateOf(clients), grpc.connectivityState.READY, 'the idle connection is still open');
      await clients.getServices();
    } finally {
      clients.close();
    }
  });

  test('a busy connection is asked to go after grpc.max_connection_age, and calls go on working', async () => {
    const server = await serverWith({
      TRACEBUCKET_GRPC_MAX_CONNECTION_AGE: '500ms', TRACEBUCKET_GRPC_MAX_CONNECTION_AGE_GRACE: '200ms',
    });
    const clients = new TbClients(server.grpcAddress);
    let left = 0;
    try {
      await clients.getServices();
      const watcher = countLeavingReady(clients.traceReader.getChannel());
      const started = Date.now();
      while (Date.now() - started < 2500) {
        await clients.getServices(); // a call every 50 ms: never idle
        await sleep(50);
      }
      left = watcher.stop();
      assert.ok(left >= 2, `the connection left READY ${left} times in 2.5 s with a 500 ms maximum age`);
    } finally {
      clients.close();
    }
  });

  test('with the defaults a connection stays open between calls', async () => {
    const server = await serverWith({});
    const clients = new TbClients(server.grpcAddress);
    try {
      await clients.getServices();
      await sleep(1500);
      assert.equal(stateOf(clients), grpc.connectivityState.READY);
    } finally {
      clients.close();
    }
  });
});
