// The operator's command line, run as an operator runs it: the real binary's `blocks`, `inspect`, `verify`, `export`,
// `import`, `config check` and `version` against the buckets a real server wrote (a local folder, and the real S3
// server when S3_ENDPOINT is set), `import` into a second real server, and `verify` on a block with a flipped byte.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TbServer, binaryPath } from './lib/server.mjs';
import { spansFromOtlpJson } from './lib/canonical.mjs';
import { assertSameTraces, traceIdsOf } from './lib/checks.mjs';
import { fixturesOfQueries, loadQueries, makeDateShift, shiftedFixtureText } from './lib/fixtures.mjs';
import { S3Bucket, s3FromEnv, uniqueBucketName } from './lib/s3.mjs';

const SHIFT = makeDateShift();
const FIXTURES = fixturesOfQueries(loadQueries(SHIFT));
const S3 = s3FromEnv();

/** Runs the binary; resolves to {code, stdout, stderr} whatever the exit status. */
function cli(args, { env = {}, timeoutMs = 120_000 } = {}) {
  return new Promise((resolve) => {
    execFile(binaryPath(), args, { env: { ...process.env, ...env }, maxBuffer: 256 << 20, timeout: timeoutMs },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : `killed (${err.signal ?? err.code})`) : 0;
        resolve({ code, stdout, stderr, args });
      });
  });
}
const show = (r) => `tracebucket ${r.args.join(' ')} → exit ${r.code}\nstdout:\n${r.stdout.slice(-3000)}\nstderr:\n${r.stderr.slice(-3000)}`;

/** Writes the fixtures into `server` as two blocks (a flush after each half); returns the canonical spans. */
async function writeTwoBlocks(server) {
  const texts = FIXTURES.map((name) => shiftedFixtureText(name, SHIFT));
  const half = Math.ceil(texts.length / 2);
  for (const part of [texts.slice(0, half), texts.slice(half)]) {
    for (const text of part) await server.postJson(text);
    await server.flush();
  }
  return texts.flatMap((t) => spansFromOtlpJson(t));
}

/** Trace ids (lowercase hex) of the spans whose resource has service.name `service`, from OTLP/JSON texts. */
function traceIdsOfService(texts, service) {
  const ids = new Set();
  for (const text of texts) {
    for (const rs of JSON.parse(text).resourceSpans ?? []) {
      const name = (rs.resource?.attributes ?? []).find((a) => a.key === 'service.name')?.value?.stringValue;
      if (name !== service) continue;
      for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) ids.add(s.traceId.toLowerCase());
    }
  }
  return [...ids].sort();
}

/** Nanoseconds since the epoch (BigInt) of an RFC 3339 UTC time with nine fraction digits. */
function rfc3339ToNanos(text) {
  const m = /^(.*T\d\d:\d\d:\d\d)\.(\d{9})Z$/.exec(text);
  assert.ok(m, `not RFC 3339 with nanoseconds: ${text}`);
  return BigInt(Date.parse(`${m[1]}Z`)) * 1_000_000n + BigInt(m[2]);
}

/** Spans of OTLP/JSON lines; asserts one whole trace per line. */
function spansOfLines(text, context) {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const spans = [];
  for (const [i, line] of lines.entries()) {
    const s = spansFromOtlpJson(line);
    assert.equal(traceIdsOf(s).length, 1, `${context}: line ${i + 1} holds ${traceIdsOf(s).length} traces`);
    spans.push(...s);
  }
  return { lines, spans };
}

describe('operator command line', () => {
  test('every subcommand answers --help, and version names the commit', async () => {
    const expectations = {
      blocks: /--json/, inspect: /BLOCK/, verify: /--tenant/, export: /--trace-id[\s\S]*NOT included/,
      import: /--endpoint[\s\S]*Retry-After/, 'config check': /FILE/, version: /version/,
    };
    for (const [command, pattern] of Object.entries(expectations)) {
      const r = await cli([...command.split(' '), '--help']);
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, pattern, show(r));
      // The commands that read a bucket take serve's flags, all of them.
      for (const flag of ['blocks', 'inspect', 'verify', 'export'].includes(command)
        ? ['--config', '--data-dir', '--storage', '--s3-endpoint', '--s3-region', '--s3-path-style', '--cache-memory-size'] : []) {
        assert.match(r.stdout, new RegExp(`${flag}\\b`), `${command} --help lacks ${flag}`);
      }
    }
    const v = await cli(['version']);
    assert.equal(v.code, 0, show(v));
    assert.match(v.stdout, /^tracebucket \d+\.\d+\.\d+\ncommit +([0-9a-f]{12}|unknown)\nbuild type +\S+\ncompiler +\S+/, show(v));
    const flag = await cli(['--version']);
    assert.equal(flag.code, 0, show(flag));
    assert.match(flag.stdout, /^tracebucket \d+\.\d+\.\d+ \(commit ([0-9a-f]{12}|unknown), /, show(flag));
    const unknown = await cli(['inspect']);
    assert.notEqual(unknown.code, 0, 'inspect without BLOCK is refused');
    assert.match(unknown.stderr, /BLOCK is required/, show(unknown));
  });

  test('config check prints the effective configuration, and refuses a bad one with a clear message', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-cli-config-'));
    try {
      const good = path.join(dir, 'good.yaml');
      fs.writeFileSync(good, 'data_dir: /srv/tb\nhead: {memory_budget: 1GiB}\nstorage: s3://traces/tb\n');
      const secret = 'Sup3rS3cretValueNobodyMaySee';
      const r = await cli(['config', 'check', good],
        { env: { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEKEYID', AWS_SECRET_ACCESS_KEY: secret, TRACEBUCKET_S3_REGION: 'eu-west-3' } });
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, /^data_dir: \/srv\/tb$/m);
      assert.match(r.stdout, /^head\.memory_budget: 1GiB$/m);
      assert.match(r.stdout, /^storage: s3:\/\/traces\/tb$/m);
      assert.match(r.stdout, /^s3\.region: eu-west-3$/m, 'the environment is part of the effective configuration');
      assert.match(r.stdout, /^limits\.max_request_size: 64MiB$/m, 'a default is printed too');
      assert.match(r.stdout, /AWS_ACCESS_KEY_ID=AKIA\*{4}, AWS_SECRET_ACCESS_KEY=\*{4}/, show(r));
      assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), 'the secret key is never printed');
      assert.ok(!r.stdout.includes('AKIAEXAMPLEKEYID'), 'the access key ID is masked too');
      // The printed configuration is itself a valid file that prints the same.
      const printed = path.join(dir, 'printed.yaml');
      fs.writeFileSync(printed, r.stdout);
      const again = await cli(['config', 'check', printed], { env: { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEKEYID', AWS_SECRET_ACCESS_KEY: secret } });
      assert.equal(again.code, 0, show(again));
      assert.equal(again.stdout, r.stdout);
      for (const [text, message] of [
        ['head: {memory_budgett: 1GiB}\n', /unknown key 'head\.memory_budgett'/],
        ['log: {level: loud}\n', /log\.level: 'loud' is not one of/],
        ['log: {format: xml}\n', /log\.format: 'xml' is not text or json/],
        ['storage: ftp://x\n', /storage: 'ftp:\/\/x' must start with file:\/\/, s3:\/\/, gs:\/\/ or azblob:\/\//],
        ['limits: {max_request_size: lots}\n', /limits\.max_request_size: 'lots' is not a size/],
        ['grpc_listen: nowhere\n', /grpc_listen: 'nowhere' is not host:port/],
        ['wal: {sync: maybe}\n', /wal\.sync: 'maybe' is not a boolean/],
        ['head: [1, 2]\n', /head: expected a mapping/],
        ['storage: s3://b/p\ns3: {endpoint: "http://10.1.2.3:9000"}\n', /s3\.endpoint: 'http:\/\/10\.1\.2\.3:9000' is plain http[\s\S]*s3\.allow_insecure: true/],
        ['tls: {cert_file: /etc/tb/tls.crt}\n', /tls\.cert_file and tls\.key_file: give both or neither/],
        ['data_dir: [unclosed\n', /config .*bad\.yaml/],
      ]) {
        const bad = path.join(dir, 'bad.yaml');
        fs.writeFileSync(bad, text);
        const b = await cli(['config', 'check', bad]);
        assert.equal(b.code, 1, show(b));
        assert.match(b.stderr, message, show(b));
        assert.equal(b.stdout, '', 'nothing printed for an invalid file');
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('on a local folder', () => {
    let server;
    let expected;
    let texts;
    const flags = () => ['--data-dir', server.dataDir];
    before(async () => {
      server = await TbServer.start({ extraArgs: ['--no-background-flush'] });
      texts = FIXTURES.map((name) => shiftedFixtureText(name, SHIFT));
      expected = await writeTwoBlocks(server);
      await server.stop();
    });
    after(async () => { await server?.dispose(); });

    test('blocks: the table and the JSON shape of GET /admin/blocks', async () => {
      const j = await cli(['blocks', ...flags(), '--json']);
      assert.equal(j.code, 0, show(j));
      const doc = JSON.parse(j.stdout);
      assert.deepEqual(Object.keys(doc), ['blocks']);
      assert.equal(doc.blocks.length, 2, j.stdout);
      for (const b of doc.blocks) {
        assert.deepEqual(Object.keys(b).sort(), ['bytes', 'id', 'level', 'max_time', 'min_time', 'spans', 'tenant', 'traces']);
        assert.equal(b.tenant, 'default');
        assert.equal(b.level, 0, 'a flush cuts level-0 blocks (metas carry no level yet)');
        assert.match(b.min_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
        assert.ok(b.min_time <= b.max_time, `${b.min_time} > ${b.max_time}`);
        const dir = path.join(server.dataDir, 'blocks', 'tenants', 'default', 'blocks', b.id);
        const onDisk = ['data', 'index', 'meta'].reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
        assert.equal(b.bytes, onDisk, `bytes of ${b.id}`);
      }
      assert.equal(doc.blocks.reduce((n, b) => n + b.spans, 0), expected.length, 'spans over the blocks');
      const t = await cli(['blocks', ...flags()]);
      assert.equal(t.code, 0, show(t));
      assert.match(t.stdout, /^ID +TENANT +LEVEL +SPANS +TRACES +BYTES +MIN TIME +MAX TIME$/m);
      for (const b of doc.blocks) assert.match(t.stdout, new RegExp(`^${b.id} +default +0 +${b.spans} +${b.traces} `, 'm'));
      assert.match(t.stdout, new RegExp(`^2 blocks, ${expected.length} spans`, 'm'));
    });

    test('inspect: sections, columns, services and time range of a block named by a prefix of its ID', async () => {
      const [first] = JSON.parse((await cli(['blocks', ...flags(), '--json'])).stdout).blocks;
      const r = await cli(['inspect', first.id.slice(0, 20), ...flags()]);
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, new RegExp(`^block +${first.id}$`, 'm'));
      assert.match(r.stdout, /^format +version 3$/m);
      assert.match(r.stdout, new RegExp(`^spans +${first.spans} in ${first.traces} traces`, 'm'));
      assert.match(r.stdout, new RegExp(`^span starts +${first.min_time.slice(0, 10)}`, 'm'));
      for (const section of ['traces', 'pages', 'dict', 'posting_keys', 'posting_lists', 'page_blooms', 'dependencies', 'services']) {
        assert.match(r.stdout, new RegExp(`^${section} +(raw|zstd) +\\d+ +\\d+ +[\\d.]+$`, 'm'), `section ${section}`);
      }
      for (const column of ['traces', 'resource_scope', 'name', 'attributes', 'values', 'span_id', 'misc']) {
        assert.match(r.stdout, new RegExp(`^${column} +\\d+ +\\d+ +([\\d.]+|-)$`, 'm'), `column ${column}`);
      }
      const services = r.stdout.match(/^services \((\d+)\): (.*)$/m);
      assert.ok(services, show(r));
      assert.ok(Number(services[1]) > 0);
      assert.match(r.stdout, /^operations +[1-9]\d* /m);
      const missing = await cli(['inspect', 'ffffffffffff', ...flags()]);
      assert.equal(missing.code, 1, show(missing));
      assert.match(missing.stderr, /no block ffffffffffff/);
    });

    test('export by query and by trace ID, then import into a second server: the same traces read back', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-cli-export-'));
      const target = await TbServer.start();
      try {
        const all = path.join(dir, 'all.jsonl');
        const e = await cli(['export', ...flags(), '--limit', '0', '--out', all]);
        assert.equal(e.code, 0, show(e));
        const { lines, spans } = spansOfLines(fs.readFileSync(all, 'utf8'), 'export');
        assert.equal(lines.length, traceIdsOf(expected).length, 'one line per trace');
        assertSameTraces(expected, spans, 'export of every trace');
        assert.match(e.stderr, new RegExp(`exported ${lines.length} traces \\(${expected.length} spans\\) from 2 blocks`));

        // By query: the traces with a span of one service, and by trace ID.
        // A service of the fixtures that is not in every trace, so that the query has something to leave out.
        const services = [...new Set(texts.flatMap((t) => (JSON.parse(t).resourceSpans ?? []).map((rs) =>
          (rs.resource?.attributes ?? []).find((a) => a.key === 'service.name')?.value?.stringValue)))].filter(Boolean).sort();
        const service = services.find((name) => traceIdsOfService(texts, name).length < traceIdsOf(expected).length) ?? services[0];
        const byService = await cli(['export', ...flags(), '--service', service, '--limit', '0']);
        assert.equal(byService.code, 0, show(byService));
        const want = traceIdsOfService(texts, service);
        assert.ok(want.length > 0);
        assert.deepEqual(traceIdsOf(spansOfLines(byService.stdout, '--service').spans), want);
        const one = traceIdsOf(expected)[0];
        const byId = await cli(['export', ...flags(), '--trace-id', one, '--trace-id', 'ab'.repeat(16)]);
        assert.equal(byId.code, 1, `an unknown --trace-id makes the exit status 1\n${show(byId)}`);
        assert.match(byId.stderr, new RegExp(`trace ${'ab'.repeat(16)} not found`));
        assertSameTraces(expected.filter((s) => s.traceId === one), spansOfLines(byId.stdout, '--trace-id').spans, 'by ID');

        const imp = await cli(['import', all, '--endpoint', target.httpBase]);
        assert.equal(imp.code, 0, show(imp));
        assert.match(imp.stderr, new RegExp(`imported ${expected.length} spans from ${lines.length} lines`), show(imp));
        // Read back through the second server's api_v3, trace by trace.
        const readBack = [];
        for (const id of traceIdsOf(expected)) {
          const res = await fetch(`${target.httpBase}/api/v3/traces/${id}`);
          assert.equal(res.status, 200, `GET /api/v3/traces/${id}`);
          readBack.push(...spansFromOtlpJson((await res.json()).result));
        }
        assertSameTraces(expected, readBack, 'read back from the server the export was imported into');

        // A bad line is reported with its number and the rest still goes in; exit 1.
        const mixed = path.join(dir, 'mixed.jsonl');
        fs.writeFileSync(mixed, `${lines[0]}\n{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}\n${lines[1]}\n`);
        const m = await cli(['import', mixed, '--endpoint', target.httpBase]);
        assert.equal(m.code, 1, show(m));
        assert.match(m.stderr, /mixed\.jsonl:2: .*traceId/);
        assert.match(m.stderr, /1 bad lines/);
        assert.match(m.stderr, new RegExp(`imported ${spansFromOtlpJson(lines[0]).length + spansFromOtlpJson(lines[1]).length} spans`));
        await target.stop();
      } finally {
        await target.dispose();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    test('import retries a 429 after its Retry-After, then gives up with exit 1', async () => {
      const refusing = await TbServer.start({ extraArgs: ['--head-memory-budget', '0'] });
      const file = path.join(os.tmpdir(), `tb-cli-retry-${process.pid}.jsonl`);
      try {
        fs.writeFileSync(file, `${shiftedFixtureText(FIXTURES[0], SHIFT).replace(/\n/g, '')}\n`);
        const t0 = Date.now();
        const r = await cli(['import', file, '--endpoint', refusing.httpBase, '--max-retries', '2']);
        const elapsed = Date.now() - t0;
        assert.equal(r.code, 1, show(r));
        assert.match(r.stderr, /HTTP 429/);
        assert.match(r.stderr, /3 requests, 2 retries, 1 failed requests/);
        assert.ok(elapsed >= 2000, `two retries after Retry-After: 1 took ${elapsed} ms`);
        await refusing.stop();
      } finally {
        await refusing.dispose();
        fs.rmSync(file, { force: true });
      }
    });

    test('verify: intact, then a flipped byte in one block is found and the exit status is 1', async () => {
      const ok = await cli(['verify', ...flags()]);
      assert.equal(ok.code, 0, show(ok));
      assert.match(ok.stdout, /^ok +default\/\S+ +\d+ spans/m);
      assert.ok(!/[\r\x1b]/.test(ok.stdout + ok.stderr), `no progress bar when not on a terminal\n${show(ok)}`);
      assert.match(ok.stdout, new RegExp(`verified 2 blocks of 1 tenants .*\\(${expected.length} spans, .*: 2 intact, 0 corrupt`));
      const [victim, other] = JSON.parse((await cli(['blocks', ...flags(), '--json'])).stdout).blocks;
      const data = path.join(server.dataDir, 'blocks', 'tenants', 'default', 'blocks', victim.id, 'data');
      const original = fs.readFileSync(data);
      const flipped = Buffer.from(original);
      flipped[Math.floor(flipped.length / 2)] ^= 0x5a;
      fs.writeFileSync(data, flipped);
      try {
        const bad = await cli(['verify', ...flags()]);
        assert.equal(bad.code, 1, show(bad));
        assert.match(bad.stdout, new RegExp(`^CORRUPT +default/${victim.id}: DATA_LOSS: .*page \\d+ column \\S+: checksum mismatch`, 'm'));
        assert.match(bad.stdout, new RegExp(`^ok +default/${other.id} `, 'm'));
        assert.match(bad.stdout, /1 intact, 1 corrupt/);
        const tenantOnly = await cli(['verify', ...flags(), '--tenant', 'default']);
        assert.equal(tenantOnly.code, 1, show(tenantOnly));
        assert.match(tenantOnly.stdout, /verified 2 blocks of 1 tenants/);
        for (const command of ['verify', 'blocks', 'export']) {
          const typo = await cli([command, ...flags(), '--tenant', 'nobody']);
          assert.equal(typo.code, 2, show(typo));
          assert.match(typo.stderr, /no tenant 'nobody' in file:\/\/.* \(tenants: default\)/, show(typo));
        }
      } finally {
        fs.writeFileSync(data, original);
      }
      const index = path.join(server.dataDir, 'blocks', 'tenants', 'default', 'blocks', other.id, 'index');
      const indexBytes = fs.readFileSync(index);
      fs.writeFileSync(index, indexBytes.subarray(0, indexBytes.length - 10));
      try {
        const truncated = await cli(['verify', ...flags()]);
        assert.equal(truncated.code, 1, show(truncated));
        assert.match(truncated.stdout, new RegExp(`^CORRUPT +default/${other.id}: .*index`, 'm'));
      } finally {
        fs.writeFileSync(index, indexBytes);
      }
      const missing = await cli(['verify', '--data-dir', path.join(server.dataDir, 'no-such-dir')]);
      assert.equal(missing.code, 2, show(missing));
      assert.match(missing.stderr, /no blocks folder at/);
    });
  });

  // GET /admin/blocks on a running server, after a known workload: one level-0 block per flush, the spans and traces
  // written, and the same document as `tracebucket blocks --json` on its folder.
  test('GET /admin/blocks answers the live block list after writes and flushes', async () => {
    const server = await TbServer.start({ extraArgs: ['--no-background-flush'] });
    try {
      const empty = await fetch(`${server.httpBase}/admin/blocks`);
      assert.equal(empty.status, 200);
      assert.match(empty.headers.get('content-type'), /application\/json/);
      assert.deepEqual(await empty.json(), { blocks: [] });
      const texts = FIXTURES.map((name) => shiftedFixtureText(name, SHIFT));
      const half = Math.ceil(texts.length / 2);
      const parts = [texts.slice(0, half), texts.slice(half)];
      const written = [];
      for (const part of parts) {
        for (const text of part) await server.postJson(text);
        await server.flush();
        written.push(part.flatMap((t) => spansFromOtlpJson(t)));
      }
      const res = await fetch(`${server.httpBase}/admin/blocks`);
      assert.equal(res.status, 200);
      const doc = await res.json();
      assert.equal(doc.blocks.length, 2, JSON.stringify(doc));
      for (const [i, b] of doc.blocks.entries()) {
        assert.equal(b.tenant, 'default');
        assert.equal(b.level, 0);
        assert.equal(b.spans, written[i].length, `spans of block ${i + 1}`);
        assert.equal(b.traces, traceIdsOf(written[i]).length, `traces of block ${i + 1}`);
        const starts = written[i].map((sp) => BigInt(sp.startTimeUnixNano));
        const minStart = starts.reduce((a, c) => (c < a ? c : a));
        assert.equal(rfc3339ToNanos(b.min_time), minStart, `min_time of block ${i + 1}: ${b.min_time}`);
        assert.ok(rfc3339ToNanos(b.max_time) >= minStart);
        const dir = path.join(server.dataDir, 'blocks', 'tenants', 'default', 'blocks', b.id);
        const onDisk = ['data', 'index', 'meta'].reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
        assert.equal(b.bytes, onDisk, `bytes of ${b.id}`);
      }
      const j = await cli(['blocks', '--data-dir', server.dataDir, '--json']);
      assert.equal(j.code, 0, show(j));
      assert.deepEqual(JSON.parse(j.stdout), doc, 'the command line and the HTTP endpoint print the same list');
      await server.stop();
    } finally {
      await server.dispose();
    }
  });

  const S3_HOWTO = 'start one with RGW_DIR=$(mktemp -d) bash scripts/s3-up.sh, then source $RGW_DIR/env';
  if (S3.missing && process.env.CI === 'true') {
    test('on the real S3 server needs an S3 server', () => {
      assert.fail(`CI=true but ${S3.missing}: the S3 cases must not be skipped in CI (${S3_HOWTO})`);
    });
  }
  describe('on the real S3 server', { skip: S3.missing && `${S3.missing} (${S3_HOWTO})` }, () => {
    let server;
    let bucket;
    let expected;
    const flagsFor = (prefix) => ['--storage', `s3://${bucket.name}/${prefix}`, '--s3-endpoint', S3.env.endpoint,
      '--s3-region', S3.env.region, '--s3-path-style'];
    const flags = () => flagsFor('tb');
    const env = () => ({ AWS_ACCESS_KEY_ID: S3.env.accessKey, AWS_SECRET_ACCESS_KEY: S3.env.secretKey });
    before(async () => {
      bucket = new S3Bucket(S3.env, uniqueBucketName('tb-cli'));
      await bucket.create();
      server = await TbServer.start({ extraArgs: ['--no-background-flush', ...flags()], env: env() });
      expected = await writeTwoBlocks(server);
      await server.stop();
    });
    after(async () => {
      await server?.dispose();
      await bucket?.destroy();
    });

    test('blocks, inspect and config check with the same flags as serve', async () => {
      const j = await cli(['blocks', ...flags(), '--json'], { env: env() });
      assert.equal(j.code, 0, show(j));
      const { blocks } = JSON.parse(j.stdout);
      assert.equal(blocks.length, 2);
      assert.equal(blocks.reduce((n, b) => n + b.spans, 0), expected.length);
      const t = await cli(['blocks', ...flags()], { env: env() });
      assert.equal(t.code, 0, show(t));
      assert.match(t.stdout, new RegExp(`^2 blocks, ${expected.length} spans, .* in s3://${bucket.name}/tb$`, 'm'));

      const r = await cli(['inspect', blocks[0].id, ...flags()], { env: env() });
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, new RegExp(`^location +s3://${bucket.name}/tb/tenants/default/blocks/${blocks[0].id}/$`, 'm'));
      assert.match(r.stdout, new RegExp(`^spans +${blocks[0].spans} in ${blocks[0].traces} traces`, 'm'));
      assert.match(r.stdout, /^services \([1-9]\d*\): /m);

      // A configuration file naming the bucket works like the flags (environment for the credentials).
      const file = path.join(os.tmpdir(), `tb-cli-s3-${process.pid}.yaml`);
      fs.writeFileSync(file, `storage: s3://${bucket.name}/tb\ns3:\n  endpoint: ${S3.env.endpoint}\n  region: ${S3.env.region}\n  path_style: true\n`);
      try {
        const viaFile = await cli(['blocks', '--config', file, '--json'], { env: env() });
        assert.equal(viaFile.code, 0, show(viaFile));
        assert.deepEqual(JSON.parse(viaFile.stdout), JSON.parse(j.stdout));
        const check = await cli(['config', 'check', file], { env: env() });
        assert.equal(check.code, 0, show(check));
        assert.ok(!check.stdout.includes(S3.env.secretKey), 'config check never prints the secret key');
        assert.match(check.stdout, /AWS_SECRET_ACCESS_KEY=\*{4}/);
      } finally {
        fs.rmSync(file, { force: true });
      }
      const noCredentials = await cli(['blocks', ...flags()], { env: { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' } });
      assert.notEqual(noCredentials.code, 0, show(noCredentials));
    });

    test('export from the bucket, import into a server on a second prefix, export that: the same traces', async () => {
      const e = await cli(['export', ...flags(), '--limit', '0'], { env: env() });
      assert.equal(e.code, 0, show(e));
      const { lines, spans } = spansOfLines(e.stdout, 'export from S3');
      assertSameTraces(expected, spans, 'export from S3');
      const file = path.join(os.tmpdir(), `tb-cli-s3-export-${process.pid}.jsonl`);
      fs.writeFileSync(file, e.stdout);
      const target = await TbServer.start({ extraArgs: ['--no-background-flush', ...flagsFor('copy')], env: env() });
      try {
        const imp = await cli(['import', file, '--endpoint', target.httpBase]);
        assert.equal(imp.code, 0, show(imp));
        assert.match(imp.stderr, new RegExp(`imported ${expected.length} spans from ${lines.length} lines`), show(imp));
        await target.flush();
        await target.stop();
      } finally {
        await target.dispose();
        fs.rmSync(file, { force: true });
      }
      const copy = await cli(['export', ...flagsFor('copy'), '--limit', '0'], { env: env() });
      assert.equal(copy.code, 0, show(copy));
      assertSameTraces(expected, spansOfLines(copy.stdout, 'export of the copy').spans, 'the copy in the second prefix');
    });

    test('verify: clean, then a flipped byte in a block is found and named', async () => {
      const { blocks } = JSON.parse((await cli(['blocks', ...flags(), '--json'], { env: env() })).stdout);
      const ok = await cli(['verify', ...flags()], { env: env() });
      assert.equal(ok.code, 0, show(ok));
      assert.match(ok.stdout, new RegExp(`verified 2 blocks of 1 tenants in s3://${bucket.name}/tb .*: 2 intact, 0 corrupt`));

      const key = `tb/tenants/default/blocks/${blocks[1].id}/data`;
      const original = await bucket.getObject(key);
      const flipped = Buffer.from(original);
      flipped[flipped.length - 1] ^= 0x01;
      await bucket.putObject(key, flipped);
      try {
        const bad = await cli(['verify', ...flags()], { env: env() });
        assert.equal(bad.code, 1, show(bad));
        assert.match(bad.stdout, new RegExp(`^CORRUPT +default/${blocks[1].id}: DATA_LOSS: .*checksum mismatch`, 'm'));
        assert.match(bad.stdout, /1 intact, 1 corrupt/);
      } finally {
        await bucket.putObject(key, original);
      }
    });
  });
});
