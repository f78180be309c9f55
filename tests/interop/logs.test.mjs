// The process's logs through the real binary (docs/configuration.md, log.*):
// - --log-format json: every stderr line is one JSON object with time (UTC, ms), level and message; the
//   slow-query log (threshold 1us, so every trace query is slow) carries door, kind, parameters, duration_ms and
//   traces as members, for the Jaeger /api door and the api_v3 door, with the number of traces each returned;
// - text format: "[time] [level] message key=value ..." and no slow-query line under a 1m threshold;
// - no secrets: started against the real S3 server with a wrong secret key and with a session token, at debug level
//   and in both formats, the logs say why the start failed but never contain the secret or the token.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { S3Bucket, s3FromEnv, uniqueBucketName } from './lib/s3.mjs';
import { TbServer } from './lib/server.mjs';

const SERVICE = 'logs-checkout';

/** Two traces of SERVICE (3 spans each), sent as OTLP/JSON; returns their start in ms. */
async function sendTraces(server) {
  const startNs = BigInt(Date.now() - 5_000) * 1_000_000n;
  const spans = [];
  for (const [t, traceId] of ['a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1', 'b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2'].entries()) {
    for (let i = 0; i < 3; i++) {
      spans.push({ traceId, spanId: `${t + 1}${i + 1}00000000000000`.slice(0, 16), name: `op-${i}`, kind: 2,
        startTimeUnixNano: String(startNs + BigInt(i)), endTimeUnixNano: String(startNs + 1_000_000n) });
    }
  }
  const body = { resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: SERVICE } }] },
    scopeSpans: [{ spans }] }] };
  const res = await fetch(`${server.httpBase}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body) });
  assert.equal(res.status, 200, await res.text());
  return Number(startNs / 1_000_000n);
}

/** A Jaeger /api search and an api_v3 search for SERVICE; both must find the two traces. */
async function search(server, startMs) {
  const from = startMs - 60_000;
  const to = Date.now() + 60_000;
  const jaeger = await fetch(`${server.httpBase}/api/traces?service=${SERVICE}&start=${from * 1000}&end=${to * 1000}&limit=20`);
  assert.equal(jaeger.status, 200);
  assert.equal((await jaeger.json()).data.length, 2);
  const v3 = await fetch(`${server.httpBase}/api/v3/traces?query.service_name=${SERVICE}`
    + `&query.start_time_min=${new Date(from).toISOString()}&query.start_time_max=${new Date(to).toISOString()}`);
  assert.equal(v3.status, 200, await v3.clone().text());
}

test('json format: one JSON object per line, and slow queries with their fields', async () => {
  const server = await TbServer.start({ extraArgs: ['--log-format', 'json', '--slow-query-threshold', '1us'] });
  await search(server, await sendTraces(server));
  await server.stop();
  const lines = server.stderr.split('\n').filter((l) => l.length > 0);
  assert.ok(lines.length >= 3, server.stderr);
  const events = lines.map((l) => {
    try { return JSON.parse(l); } catch { assert.fail(`not a JSON line: ${l}`); }
  });
  for (const e of events) {
    assert.match(e.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, JSON.stringify(e));
    assert.ok(['trace', 'debug', 'info', 'warning', 'error', 'critical'].includes(e.level), JSON.stringify(e));
    assert.equal(typeof e.message, 'string');
  }
  assert.ok(events.some((e) => e.message === 'stopped cleanly' && e.level === 'info'));
  const slow = events.filter((e) => e.message === 'slow query');
  const jaeger = slow.find((e) => e.door === 'jaeger_http' && e.kind === 'find_traces');
  assert.ok(jaeger, `no slow-query event of the Jaeger door in:\n${server.stderr}`);
  assert.equal(jaeger.level, 'warning');
  assert.equal(jaeger.parameters.service, SERVICE);
  assert.equal(jaeger.parameters.limit, 20);
  assert.equal(jaeger.traces, 2);
  assert.equal(typeof jaeger.duration_ms, 'number');
  assert.ok(jaeger.duration_ms > 0);
  const v3 = slow.find((e) => e.door === 'api_v3' && e.kind === 'find_traces');
  assert.ok(v3, `no slow-query event of the api_v3 door in:\n${server.stderr}`);
  assert.equal(v3.parameters.service, SERVICE);
  assert.equal(v3.traces, 2);
});

test('text format: fields as key=value; nothing logged under the threshold', async () => {
  const fast = await TbServer.start({ extraArgs: ['--slow-query-threshold', '1m'] });
  await search(fast, await sendTraces(fast));
  await fast.stop();
  assert.match(fast.stderr, /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] \[info\] serving gRPC/m);
  assert.doesNotMatch(fast.stderr, /slow query/);

  const slow = await TbServer.start({ env: { TRACEBUCKET_LOG_SLOW_QUERY_THRESHOLD: '1us' } });
  await search(slow, await sendTraces(slow));
  await slow.stop();
  // Fields in key order (nlohmann's objects are sorted): door, duration_ms, kind, parameters, traces.
  const line = slow.stderr.split('\n').find((l) => l.includes('slow query door=jaeger_http'));
  assert.ok(line, slow.stderr);
  assert.match(line, /^\[[^\]]+\] \[warning\] slow query door=jaeger_http duration_ms=[0-9.]+ kind=find_traces parameters=\{.*\} traces=2$/);
  assert.ok(line.includes(`"service":"${SERVICE}"`), line);
});

test('no secret key or session token in the logs, whatever fails', async (t) => {
  const s3 = s3FromEnv();
  if (s3.missing) {
    t.skip(`needs the S3 server of scripts/test.sh: ${s3.missing}`);
    return;
  }
  const bucket = new S3Bucket(s3.env, uniqueBucketName('tb-logs'));
  await bucket.create();
  t.after(() => bucket.destroy());
  const wrongSecret = 'WrongSecretKeyThatMustNeverBeLogged0123456';
  const token = 'SessionTokenThatMustNeverBeLogged-abcdef0123456789';
  const cases = [
    { what: 'wrong secret', env: { AWS_ACCESS_KEY_ID: s3.env.accessKey, AWS_SECRET_ACCESS_KEY: wrongSecret } },
    { what: 'session token', env: { AWS_ACCESS_KEY_ID: s3.env.accessKey, AWS_SECRET_ACCESS_KEY: s3.env.secretKey,
      AWS_SESSION_TOKEN: token } },
  ];
  for (const format of ['text', 'json']) {
    for (const c of cases) {
      let server = null;
      let log = '';
      try {
        server = await TbServer.start({
          extraArgs: ['--storage', `s3://${bucket.name}/p`, '--s3-endpoint', s3.env.endpoint, '--s3-region',
            s3.env.region, '--s3-path-style', '--log-level', 'debug', '--log-format', format],
          env: c.env, readyTimeoutMs: 30_000 });
      } catch (e) {
        log = e.message; // the harness's error carries the server's stderr
      }
      const started = server !== null;
      if (started) {
        await sendTraces(server);
        await fetch(`${server.httpBase}/admin/flush`, { method: 'POST' }); // a PUT signed with the credentials
        await server.stop();
        log = server.stderr;
      }
      assert.ok(log.length > 0, `${c.what}, ${format}: no log at all`);
      if (c.what === 'wrong secret') {
        assert.equal(started, false, `${c.what}: a wrong secret must not start`);
        assert.match(log, /cannot start/, `${c.what}, ${format}: the log says why`);
      }
      for (const secret of [wrongSecret, token, s3.env.secretKey]) {
        assert.ok(!log.includes(secret), `${c.what}, ${format}: the log contains a secret:\n${log}`);
      }
    }
  }
});
