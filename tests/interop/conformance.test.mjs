// Jaeger storage-integration conformance, driven through third-party clients only:
//   writes: Node's fetch (OTLP/HTTP JSON, the fixture text as it is) and grpc-js TraceService/Export;
//   reads:  grpc-js jaeger.storage.v2.TraceReader / Capabilities, built from the project's own .proto files.
// Cases and fixtures: tests/conformance/jaeger (jaegertracing/jaeger 8498073); semantics: docs/jaeger-semantics.md §2, §4, §5.2.
//
// The whole set runs once per storage mode (registerConformance below): where the written spans live (head only;
// blocks only, after POST /admin/flush; split between a block and the head; split, then a restart on the same data
// dir and storage) × where blocks go (the default local folder; a real S3 server, when S3_ENDPOINT is set; Azurite,
// when AZURITE_BLOB_ENDPOINT is set; fake-gcs-server, when STORAGE_EMULATOR_HOST is set — CI=true makes a missing
// server a failure instead of a skip, unless scripts/test.sh said why it could not start an emulator).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { TbServer } from './lib/server.mjs';
import { TbClients, assembleStream, foundTraceIds } from './lib/clients.mjs';
import { cloneSpans, diffTraces, spansFromOtlpJson } from './lib/canonical.mjs';
import {
  chunkDoc, durationFromNanos, fixturesOfQueries, largeTraceJson, loadQueries, makeDateShift, otlpJsonToProto,
  queryToParams, shiftedFixtureText, timestampFromNanos, ZERO_TIMESTAMP,
} from './lib/fixtures.mjs';
import { assertSameTraces, assertStreamEquals, completeOrWrong, readUntil, traceIdsOf } from './lib/checks.mjs';
import { S3Bucket, s3FromEnv, uniqueBucketName } from './lib/s3.mjs';
import { AzureContainer, GcsBucket, azuriteFromEnv, gcsEmulatorFromEnv } from './lib/cloud_emulators.mjs';

const SHIFT = makeDateShift();
const QUERIES = loadQueries(SHIFT);
const QUERY_FIXTURES = fixturesOfQueries(QUERIES);
const EXAMPLE_TRACE_ID = '00000000000000000000000000000011';

// The exact fixture text of a document parsed from it, so that the OTLP/HTTP JSON writer can send the text as is
// whenever a document is written whole.
const TEXT_OF = new WeakMap();
function fixtureDoc(name) {
  const text = shiftedFixtureText(name, SHIFT);
  const d = JSON.parse(text);
  TEXT_OF.set(d, text);
  return d;
}
const expectedOf = (names) => names.flatMap((n) => spansFromOtlpJson(shiftedFixtureText(n, SHIFT)));
const caseName = (i, q) => `${String(i + 1).padStart(2, '0')} ${q.Caption}`;

async function exportOk(clients, request, opts) {
  const res = await clients.export(request, opts);
  const rejected = res?.partialSuccess?.rejectedSpans;
  assert.ok(!rejected || rejected === '0', `Export rejected ${rejected} span(s): ${res.partialSuccess?.errorMessage}`);
  return res;
}

/** Writes one OTLP/JSON document as an ExportTraceServiceRequest over grpc-js. */
const sendGrpc = (ctx, d) => exportOk(ctx.clients, otlpJsonToProto(d));

// Two ways in. (a) OTLP/HTTP JSON: the date-shifted fixture text itself (re-serialised only where a mode splits a
// document); (b) the same data as an ExportTraceServiceRequest over grpc-js.
const WRITERS = [
  {
    name: 'OTLP/HTTP JSON (fixture text as is)',
    send: (ctx, d) => ctx.server.postJson(TEXT_OF.get(d) ?? JSON.stringify(d)),
  },
  { name: 'OTLP/gRPC Export', send: sendGrpc },
];

// ---------------------------------------------------------------------------------------------------------------
// Storage modes

const S3 = s3FromEnv();
const AZ = azuriteFromEnv();
const GCS = gcsEmulatorFromEnv();
const isBlockKey = (k) => /(^|\/)blocks\//.test(k);

/** Relative paths of the files under `dir` (none if it does not exist). */
function listFiles(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath ?? e.path, e.name)));
}

/** Where blocks go. open() → {extraArgs, env, listKeys(server), dispose()}. */
const STORAGES = {
  local: {
    title: 'local folder',
    async open() {
      return {
        extraArgs: [], env: {},
        listKeys: async (server) => listFiles(path.join(server.dataDir, 'blocks')),
        async dispose() {},
      };
    },
  },
  s3: {
    title: 'S3',
    async open() {
      const bucket = new S3Bucket(S3.env, uniqueBucketName('tb-conf'));
      await bucket.create();
      return {
        extraArgs: ['--storage', `s3://${bucket.name}/tb`, '--s3-endpoint', S3.env.endpoint, '--s3-region', S3.env.region,
          '--s3-path-style'],
        env: { AWS_ACCESS_KEY_ID: S3.env.accessKey, AWS_SECRET_ACCESS_KEY: S3.env.secretKey },
        async listKeys(server) {
          // blocks must go to the bucket, never to the default local folder
          assert.deepEqual(listFiles(path.join(server.dataDir, 'blocks')), [], 'files in the local blocks folder with --storage s3://');
          return bucket.listKeys('tb/');
        },
        dispose: () => bucket.destroy(),
      };
    },
  },
  azure: {
    title: 'Azure Blob (Azurite)',
    async open() {
      const container = new AzureContainer(AZ.env, uniqueBucketName('tb-conf'));
      await container.create();
      return {
        extraArgs: ['--storage', `azblob://${container.name}/tb`, '--azure-endpoint', AZ.env.endpoint],
        env: { AZURE_STORAGE_ACCOUNT: AZ.env.account, AZURE_STORAGE_KEY: AZ.env.key },
        async listKeys(server) {
          assert.deepEqual(listFiles(path.join(server.dataDir, 'blocks')), [], 'files in the local blocks folder with --storage azblob://');
          return container.listKeys('tb/');
        },
        dispose: () => container.destroy(),
      };
    },
  },
  gcs: {
    title: 'GCS (fake-gcs-server)',
    async open() {
      const bucket = new GcsBucket(GCS.env, uniqueBucketName('tb-conf'));
      await bucket.create();
      return {
        extraArgs: ['--storage', `gs://${bucket.name}/tb`, '--gcs-endpoint', GCS.env.endpoint],
        // An emulator: the store then asks for no credentials.
        env: { STORAGE_EMULATOR_HOST: GCS.env.endpoint },
        async listKeys(server) {
          assert.deepEqual(listFiles(path.join(server.dataDir, 'blocks')), [], 'files in the local blocks folder with --storage gs://');
          return bucket.listKeys('tb/');
        },
        dispose: () => bucket.destroy(),
      };
    },
  },
};

/** Where the written spans are when the queries run. */
const PLACEMENTS = {
  head: 'head only',
  blocks: 'blocks only (POST /admin/flush after writing)',
  split: 'half of every write in a block, the other half in the head',
  restart: 'half in a block, half in the head, then a restart (blocks + WAL replay)',
};

const MODES = [
  { storage: 'local', placement: 'head' },
  { storage: 'local', placement: 'blocks' },
  { storage: 'local', placement: 'split' },
  { storage: 'local', placement: 'restart' },
  { storage: 's3', placement: 'blocks' },
  { storage: 's3', placement: 'split' },
  { storage: 's3', placement: 'restart' },
  { storage: 'azure', placement: 'blocks' },
  { storage: 'gcs', placement: 'blocks' },
];
const modeTitle = (m) => `[${STORAGES[m.storage].title}, ${m.placement}: ${PLACEMENTS[m.placement]}]`;

/**
 * Splits OTLP/JSON documents into two halves by alternating spans (a running count over all documents, so
 * single-span documents alternate too); resources and scopes are kept, empty ones dropped.
 */
function splitDocs(docs) {
  let n = 0;
  const halves = [[], []];
  for (const d of docs) {
    const parts = [0, 1].map(() => ({ resourceSpans: [] }));
    for (const rs of d.resourceSpans ?? []) {
      const rsParts = [0, 1].map(() => ({ ...rs, scopeSpans: [] }));
      for (const ss of rs.scopeSpans ?? []) {
        const ssParts = [0, 1].map(() => ({ ...ss, spans: [] }));
        for (const s of ss.spans ?? []) ssParts[n++ % 2].spans.push(s);
        ssParts.forEach((p, i) => { if (p.spans.length) rsParts[i].scopeSpans.push(p); });
      }
      rsParts.forEach((p, i) => { if (p.scopeSpans.length) parts[i].resourceSpans.push(p); });
    }
    parts.forEach((p, i) => { if (p.resourceSpans.length) halves[i].push(p); });
  }
  return halves;
}

/** One server in one storage mode, with the mode's ways to purge, write and flush. */
class ModeServer {
  constructor(mode) {
    this.mode = mode;
    this.blocks = 0; // blocks the server should serve
  }

  async start() {
    this.storage = await STORAGES[this.mode.storage].open();
    const extraArgs = [...this.storage.extraArgs];
    // In block modes only POST /admin/flush cuts blocks, and no background compaction merges them, so every
    // placement (and block count) is exactly what the test asked for.
    if (this.mode.placement !== 'head') extraArgs.push('--no-background-flush', '--no-background-compaction');
    this.server = await TbServer.start({ extraArgs, env: this.storage.env });
    this.clients = new TbClients(this.server.grpcAddress);
  }

  async stop() {
    this.clients?.close();
    try {
      if (this.server) {
        try { await this.server.stop(); } finally { await this.server.dispose(); }
      }
    } finally {
      await this.storage?.dispose();
    }
  }

  /** POST /purge; in block modes it must also delete every block object. */
  async purge() {
    await this.server.purge();
    this.blocks = 0;
    if (this.mode.placement === 'head') return;
    const left = (await this.storage.listKeys(this.server)).filter(isBlockKey);
    assert.deepEqual(left, [], 'POST /purge left block objects in the object store');
  }

  /** POST /admin/flush: exactly one new block, and it is in the mode's object store. */
  async flush() {
    const n = await this.server.flush();
    assert.equal(n, this.blocks + 1, `POST /admin/flush: blocks served afterwards (had ${this.blocks})`);
    this.blocks = n;
    const keys = await this.storage.listKeys(this.server);
    assert.ok(keys.some(isBlockKey), `no block objects in the object store after a flush: ${JSON.stringify(keys)}`);
  }

  /**
   * SIGTERM (exit 0 asserted), then the same binary on the same data dir and storage; new clients. The server must
   * report recovering every block and exactly the `walSpans` spans written after the last flush from its WAL
   * (its startup line "recovered N blocks from … and M spans from the WAL"): nothing lost, nothing replayed twice.
   */
  async restart(walSpans) {
    this.clients.close();
    await this.server.stop();
    await this.server.restart();
    this.clients = new TbClients(this.server.grpcAddress);
    const m = this.server.stderr.match(/recovered (\d+) blocks? from \S+ and (\d+) spans? from the WAL/);
    assert.ok(m, `no "recovered … blocks … spans from the WAL" line in the restarted server's log:\n${this.server.stderrTail()}`);
    assert.deepEqual({ blocks: Number(m[1]), walSpans: Number(m[2]) }, { blocks: this.blocks, walSpans },
      `what the restarted server recovered: ${m[0]}`);
  }

  /**
   * Writes OTLP/JSON documents with `send(ctx, doc)` so that the mode's placement holds afterwards:
   * head: just written; blocks: written, then flushed; split: one half (splitDocs) written and flushed, the other
   * written; restart: as split, then a restart.
   */
  async place(docs, send = sendGrpc) {
    const { placement } = this.mode;
    if (placement === 'head' || placement === 'blocks') {
      for (const d of docs) await send(this, d);
      if (placement === 'blocks') await this.flush();
      return;
    }
    const [first, second] = splitDocs(docs);
    for (const d of first) await send(this, d);
    await this.flush();
    for (const d of second) await send(this, d);
    if (placement === 'restart') await this.restart(second.flatMap((d) => spansFromOtlpJson(d)).length);
  }
}

/** A server for one describe block: started before its tests, stopped (exit code 0 asserted) after. */
function useServer(mode) {
  const ctx = new ModeServer(mode);
  before(() => ctx.start(), { timeout: 60_000 });
  after(() => ctx.stop(), { timeout: 120_000 });
  return ctx;
}

async function findTracesChecked(clients, params, expected, context) {
  const want = traceIdsOf(expected);
  const messages = await readUntil(() => clients.findTraces(params),
    (msgs) => completeOrWrong([...assembleStream(msgs).spansByTrace.keys()], want));
  return assertStreamEquals(messages, expected, context);
}

async function findTraceIdsChecked(clients, params, expectedIds, context) {
  const resp = await readUntil(() => clients.findTraceIds(params),
    (r) => completeOrWrong(foundTraceIds(r).ids, expectedIds));
  const { ids, problems } = foundTraceIds(resp);
  assert.deepEqual(problems, [], `${context}: FoundTraceID problems`);
  assert.equal(ids.length, new Set(ids).size, `${context}: duplicate ids in ${ids.join(', ')}`);
  assert.deepEqual([...ids].sort(), [...expectedIds].sort(), `${context}: trace ids`);
}

// ---------------------------------------------------------------------------------------------------------------
// The case list, registered once per mode

function registerConformance(mode) {
  describe(`Jaeger conformance: the 25 queries.json cases`, () => {
    const ctx = useServer(mode);

    for (const writer of WRITERS) {
      describe(`written via ${writer.name}`, () => {
        before(async () => {
          await ctx.purge();
          await ctx.place(QUERY_FIXTURES.map(fixtureDoc), writer.send);
        }, { timeout: 120_000 });

        for (const [i, q] of QUERIES.entries()) {
          test(`FindTraces ${caseName(i, q)}`, async () => {
            await findTracesChecked(ctx.clients, queryToParams(q.Query), expectedOf(q.ExpectedFixtures), caseName(i, q));
          });
        }

        for (const [i, q] of QUERIES.entries()) {
          test(`FindTraceIDs ${caseName(i, q)}`, async () => {
            await findTraceIdsChecked(ctx.clients, queryToParams(q.Query), traceIdsOf(expectedOf(q.ExpectedFixtures)),
              caseName(i, q));
          });
        }

        // api_v3 style: every tag value as a string ("123", "72.5", "true") must match by canonical string form.
        for (const [i, q] of QUERIES.entries()) {
          if (!Object.keys(q.Query.Tags ?? {}).length) continue;
          test(`FindTraces with string-typed tags ${caseName(i, q)}`, async () => {
            await findTracesChecked(ctx.clients, queryToParams(q.Query, { typed: false }), expectedOf(q.ExpectedFixtures),
              `${caseName(i, q)} (string tags)`);
          });
        }
      });
    }
  });

  describe('Jaeger conformance: services, operations, get-trace', () => {
    const ctx = useServer(mode);

    test('GetServices after purge + example_trace is exactly the three example services', async () => {
      await ctx.place([fixtureDoc('multiple1_trace')]); // something the purge must remove (in block modes: a block)
      await ctx.purge();
      await ctx.place([fixtureDoc('example_trace')]);
      const want = ['example-service-1', 'example-service-2', 'example-service-3'];
      const res = await readUntil(() => ctx.clients.getServices(), (r) => r.services.length >= want.length);
      assert.deepEqual([...res.services].sort(), want);
    });

    test('GetOperations(example-service-1, "") lists names with span kinds', async () => {
      await ctx.purge();
      await ctx.place([fixtureDoc('example_trace')]);
      const want = [
        { name: 'example-operation-1', spanKind: '' },
        { name: 'example-operation-3', spanKind: 'server' },
        { name: 'example-operation-4', spanKind: 'client' },
      ];
      const res = await readUntil(() => ctx.clients.getOperations('example-service-1', ''), (r) => r.operations.length >= 3);
      const got = res.operations.map((o) => ({ name: o.name, spanKind: o.spanKind }))
        .sort((a, b) => a.name.localeCompare(b.name) || a.spanKind.localeCompare(b.spanKind));
      assert.deepEqual(got, want);
      // span_kind filter and unknown service
      const server = await ctx.clients.getOperations('example-service-1', 'server');
      assert.deepEqual(server.operations.map((o) => [o.name, o.spanKind]), [['example-operation-3', 'server']]);
      const none = await ctx.clients.getOperations('no-such-service', '');
      assert.deepEqual(none.operations, []);
    });

    test('GetTraces(example trace) returns all 5 spans, equal to the fixture', async () => {
      await ctx.purge();
      await ctx.place([fixtureDoc('example_trace')]);
      const expected = expectedOf(['example_trace']);
      const messages = await readUntil(() => ctx.clients.getTraces([EXAMPLE_TRACE_ID]),
        (m) => assembleStream(m).spans.length >= 5);
      const r = assertStreamEquals(messages, expected, 'GetTraces example_trace');
      assert.equal(r.order.length, 1);
      assert.equal(r.spans.length, 5);
    });

    test('GetTraces with real start/end hints still returns the whole trace', async () => {
      await ctx.purge();
      await ctx.place([fixtureDoc('example_trace')]);
      const expected = expectedOf(['example_trace']);
      const start = BigInt(expected[0].startTimeUnixNano);
      const messages = await readUntil(() => ctx.clients.getTraces([EXAMPLE_TRACE_ID], {
        startTime: timestampFromNanos(start - 1_000_000_000n), endTime: timestampFromNanos(start + 1_000_000_000n),
      }), (m) => assembleStream(m).spans.length >= 5);
      assertStreamEquals(messages, expected, 'GetTraces example_trace with hints');
    });

    test('GetTraces with an unknown id (00…01) is an empty stream with status OK', async () => {
      await ctx.purge();
      await ctx.place([fixtureDoc('example_trace')]);
      const messages = await ctx.clients.getTraces(['00000000000000000000000000000001']);
      assert.equal(messages.length, 0);
      // known and unknown together: only the known one, in one or more consecutive chunks
      const both = await ctx.clients.getTraces(['00000000000000000000000000000001', EXAMPLE_TRACE_ID]);
      assertStreamEquals(both, expectedOf(['example_trace']), 'GetTraces unknown + known');
    });

    test('Capabilities: search without service name is declared', async () => {
      const res = await ctx.clients.getCapabilities();
      assert.equal(res.search?.withoutServiceName, true, JSON.stringify(res));
    });
  });

  describe('Jaeger conformance: large and duplicate-id traces', () => {
    const ctx = useServer(mode);

    test('a 10,008-span trace comes back whole, in chunks under 4 MiB holding one trace each', async () => {
      await ctx.purge();
      const doc = largeTraceJson(fixtureDoc('example_trace'), 10008);
      await ctx.place(chunkDoc(doc, 1000), (c, d) => exportOk(c.clients, otlpJsonToProto(d), { deadlineMs: 120_000 }));
      const expected = spansFromOtlpJson(doc);
      const messages = await readUntil(() => ctx.clients.getTraces([EXAMPLE_TRACE_ID], { deadlineMs: 120_000 }),
        (m) => assembleStream(m).spans.length >= 10008, { timeoutMs: 10_000, intervalMs: 500 });
      const r = assertStreamEquals(messages, expected, 'GetTraces 10,008 spans');
      assert.equal(r.order.length, 1);
      assert.equal(r.spans.length, 10008);
      assert.ok(r.maxWireSize < 4 * 1024 * 1024, `largest chunk ${r.maxWireSize} bytes`);
    });

    test('a 200-span trace with repeated span ids keeps every duplicate', async () => {
      await ctx.purge();
      const doc = largeTraceJson(fixtureDoc('example_trace'), 200, 20);
      // Jaeger's test writer sends 5 spans per request.
      await ctx.place(chunkDoc(doc, 5));
      const expected = spansFromOtlpJson(doc);
      const messages = await readUntil(() => ctx.clients.getTraces([EXAMPLE_TRACE_ID]),
        (m) => assembleStream(m).spans.length >= 200);
      const r = assertStreamEquals(messages, expected, 'GetTraces 200 spans with duplicates');
      assert.equal(r.spans.filter((s) => s.spanId === '0000000000000004').length, 10);
    });
  });

  describe('Jaeger conformance: search without service name, search depth', () => {
    const ctx = useServer(mode);

    test('FindTraces with no service name finds the two rfc0013 traces by attribute alone', async () => {
      await ctx.purge();
      const now = BigInt(Date.now()) * 1_000_000n;
      const docs = [['cross-service-a', '0102030405060708090a0b0c0d0e0f10'], ['cross-service-b', '0202030405060708090a0b0c0d0e0f10']]
        .map(([service, traceId], i) => ({
          resourceSpans: [{
            resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
            scopeSpans: [{
              scope: {},
              spans: [{
                traceId, spanId: `000000000000000${i + 1}`, name: 'rfc0013-operation', kind: 2,
                startTimeUnixNano: (now - 60_000_000_000n + BigInt(i)).toString(),
                endTimeUnixNano: (now - 59_000_000_000n + BigInt(i)).toString(),
                attributes: [{ key: 'rfc0013.cross.service', value: { stringValue: 'yes' } }],
                status: {},
              }],
            }],
          }],
        }));
      await ctx.place([fixtureDoc('example_trace') /* must not match */, ...docs]);
      const params = {
        serviceName: '', operationName: '',
        attributes: [{ key: 'rfc0013.cross.service', value: { stringValue: 'yes' } }],
        startTimeMin: timestampFromNanos(now - 3_600_000_000_000n), startTimeMax: timestampFromNanos(now + 3_600_000_000_000n),
        durationMin: durationFromNanos(0), durationMax: durationFromNanos(0), searchDepth: 10,
      };
      const expected = docs.flatMap((d) => spansFromOtlpJson(d));
      await findTracesChecked(ctx.clients, params, expected, 'rfc0013 without service name');
      await findTraceIdsChecked(ctx.clients, params, traceIdsOf(expected), 'rfc0013 without service name (ids)');
      // unset (year 0001) time bounds: any time
      await findTracesChecked(ctx.clients, { ...params, startTimeMin: { ...ZERO_TIMESTAMP }, startTimeMax: { ...ZERO_TIMESTAMP } },
        expected, 'rfc0013 without service name, unset time bounds');
    });

    const multipleCase = QUERIES.find((q) => q.ExpectedFixtures.length === 3);

    test('search_depth 2 on the three "Multiple Traces" fixtures returns 2 of them, each whole', async () => {
      await ctx.purge();
      await ctx.place(multipleCase.ExpectedFixtures.map(fixtureDoc));
      const params = queryToParams({ ...multipleCase.Query, NumTraces: 2 });
      // All three start at the same instant, so any two are "the newest".
      await readUntil(() => ctx.clients.findTraces(queryToParams(multipleCase.Query)), (m) => assembleStream(m).order.length >= 3);
      const r = assembleStream(await ctx.clients.findTraces(params));
      assert.deepEqual(r.problems, []);
      assert.equal(r.order.length, 2, `got ${r.order.join(', ')}`);
      const all = expectedOf(multipleCase.ExpectedFixtures);
      assertSameTraces(all.filter((s) => r.order.includes(s.traceId)), r.spans, 'search_depth 2');
      const ids = foundTraceIds(await ctx.clients.findTraceIds(params));
      assert.deepEqual(ids.problems, []);
      assert.equal(ids.ids.length, 2);
    });

    test('search_depth 2 returns the 2 newest traces, newest first', async () => {
      await ctx.purge();
      // The same three fixtures, started 0, 60 and 120 s apart (still inside the case's window), written oldest first.
      const docs = multipleCase.ExpectedFixtures.map((n, i) => {
        const d = fixtureDoc(n);
        for (const s of d.resourceSpans[0].scopeSpans[0].spans) {
          const delta = BigInt(i) * 60_000_000_000n;
          s.startTimeUnixNano = (BigInt(s.startTimeUnixNano) + delta).toString();
          s.endTimeUnixNano = (BigInt(s.endTimeUnixNano) + delta).toString();
          for (const e of s.events ?? []) e.timeUnixNano = (BigInt(e.timeUnixNano) + delta).toString();
        }
        return d;
      });
      await ctx.place(docs);
      const all = docs.flatMap((d) => spansFromOtlpJson(d));
      const ids = traceIdsOf(all); // …221, …222, …223 in start order
      await readUntil(() => ctx.clients.findTraces(queryToParams(multipleCase.Query)), (m) => assembleStream(m).order.length >= 3);
      const params = queryToParams({ ...multipleCase.Query, NumTraces: 2 });
      const r = assertStreamEquals(await ctx.clients.findTraces(params), all.filter((s) => s.traceId !== ids[0]),
        'search_depth 2 (distinct starts)');
      assert.deepEqual(r.order, [ids[2], ids[1]], 'newest first');
      const found = foundTraceIds(await ctx.clients.findTraceIds(params));
      assert.deepEqual([...found.ids].sort(), [ids[1], ids[2]]);
    });
  });

  describe('the check bites: a mutated expectation is reported against the real server', () => {
    const ctx = useServer(mode);

    test('int→double attribute type change and a dropped span are both reported', async () => {
      await ctx.purge();
      await ctx.place([fixtureDoc('span_tags_trace'), fixtureDoc('example_trace')]);

      const q = QUERIES.find((x) => x.ExpectedFixtures.length === 1 && x.ExpectedFixtures[0] === 'span_tags_trace');
      const found = assembleStream(await readUntil(() => ctx.clients.findTraces(queryToParams(q.Query)),
        (m) => assembleStream(m).spans.length >= 1));
      const tagsExpected = expectedOf(['span_tags_trace']);
      assert.deepEqual(diffTraces(tagsExpected, found.spans), [], 'precondition: the unmutated fixture matches');
      const retyped = cloneSpans(tagsExpected);
      const attr = retyped[0].attributes.find((a) => a.key === 'sameplacetag2');
      assert.equal(attr.value.t, 'int');
      attr.value = { t: 'double', v: Number(attr.value.v) };
      const d1 = diffTraces(retyped, found.spans);
      assert.ok(d1.length > 0, 'int→double change not reported');
      assert.match(d1.join('\n'), /sameplacetag2\]: expected double\(123\), got int\(123\)/);

      const got = assembleStream(await readUntil(() => ctx.clients.getTraces([EXAMPLE_TRACE_ID]),
        (m) => assembleStream(m).spans.length >= 5));
      const exampleExpected = expectedOf(['example_trace']);
      assert.deepEqual(diffTraces(exampleExpected, got.spans), [], 'precondition: the unmutated fixture matches');
      const fewer = cloneSpans(exampleExpected).filter((s) => s.spanId !== '0000000000000006');
      const d2 = diffTraces(fewer, got.spans);
      assert.ok(d2.length > 0, 'dropped span not reported');
      assert.match(d2.join('\n'), /expected 4 span\(s\), got 5/);
      assert.match(d2.join('\n'), /span 0000000000000006 .*unexpected/);
    });
  });

  describe('Jaeger reference semantics beyond the fixture set', () => registerReferenceSemantics(mode));
}

// ---------------------------------------------------------------------------------------------------------------
// Reference behaviour (docs/jaeger-semantics.md §5.2, §7) that the fixture set does not pin down on its own.

const S = 1_000_000_000n;
const kv = (key, value) => ({ key, value });
const str = (v) => ({ stringValue: v });

/** One OTLP/JSON document: `spans` = [{service, scope?, spanId, parent?, name, kind?, start, end, attributes?, status?, events?, links?}]. */
function doc(traceId, spans) {
  return {
    resourceSpans: spans.map((s) => ({
      resource: { attributes: [kv('service.name', str(s.service)), ...(s.resourceAttributes ?? [])] },
      scopeSpans: [{
        scope: s.scope ?? {},
        spans: [{
          traceId, spanId: s.spanId, parentSpanId: s.parent ?? '', name: s.name, kind: s.kind ?? 0,
          startTimeUnixNano: s.start.toString(), endTimeUnixNano: s.end.toString(),
          attributes: s.attributes ?? [], events: s.events ?? [], links: s.links ?? [], status: s.status ?? {},
        }],
      }],
    })),
  };
}

function registerReferenceSemantics(mode) {
  const ctx = useServer(mode);
  const t0 = BigInt(Date.now() - 600_000) * 1_000_000n; // ten minutes ago
  const TA = 'a1000000000000000000000000000001'; // same-span conjunction: tags split over two spans
  const TB = 'b2000000000000000000000000000002'; // everything on one span; error status; server kind; scope
  const TD = 'd4000000000000000000000000000004'; // dependencies hello → world → hello ×3
  const TL = 'e5000000000000000000000000000005'; // dependencies through a link: a root linked into its own trace
  const docs = {
    [TA]: doc(TA, [
      { service: 'sem-svc', spanId: '00000000000000a1', name: 'op-a', start: t0, end: t0 + 1000n, attributes: [kv('k1', str('v1'))] },
      { service: 'sem-svc', spanId: '00000000000000a2', parent: '00000000000000a1', name: 'op-a', start: t0 + 10n, end: t0 + 20n, attributes: [kv('k2', str('v2'))] },
    ]),
    [TB]: doc(TB, [
      { service: 'sem-svc', spanId: '00000000000000b1', name: 'op-b', kind: 2, start: t0 + S, end: t0 + S + 5000n,
        scope: { name: 'sem-lib', version: '2.0.0' },
        resourceAttributes: [kv('region', str('eu-west'))],
        attributes: [kv('k1', str('v1')), kv('k2', str('v2')), kv('num', { intValue: '123' }), kv('numstr', str('456')),
          kv('ratio', { doubleValue: 72.5 }), kv('flag', { boolValue: true }), kv('blob', { bytesValue: 'AAAwOQ==' })],
        status: { code: 2, message: 'failed' } },
    ]),
    [TD]: doc(TD, [
      { service: 'hello', spanId: '00000000000000d1', name: 'root', start: t0 + 2n * S, end: t0 + 2n * S + 100n },
      { service: 'world', spanId: '00000000000000d2', parent: '00000000000000d1', name: 'w', start: t0 + 2n * S + 1n, end: t0 + 2n * S + 90n },
      ...[3, 4, 5].map((i) => ({ service: 'hello', spanId: `00000000000000d${i}`, parent: '00000000000000d2', name: 'h', start: t0 + 2n * S + BigInt(i), end: t0 + 2n * S + 50n })),
    ]),
    [TL]: doc(TL, [
      { service: 'links-a', spanId: '00000000000000e1', name: 'send', start: t0 + 3n * S, end: t0 + 3n * S + 100n },
      { service: 'links-b', spanId: '00000000000000e2', name: 'receive', start: t0 + 3n * S + 10n, end: t0 + 3n * S + 50n,
        links: [{ traceId: TD, spanId: '00000000000000d1' }, { traceId: TL, spanId: '00000000000000e1' }] },
      { service: 'links-b', spanId: '00000000000000e3', name: 'elsewhere', start: t0 + 3n * S + 20n, end: t0 + 3n * S + 60n,
        links: [{ traceId: TD, spanId: '00000000000000d2' }] },
    ]),
  };
  const expected = (id) => spansFromOtlpJson(docs[id]);
  const base = (extra = {}) => ({
    serviceName: 'sem-svc', operationName: '', attributes: [],
    startTimeMin: timestampFromNanos(t0 - 3600n * S), startTimeMax: timestampFromNanos(t0 + 3600n * S),
    durationMin: durationFromNanos(0), durationMax: durationFromNanos(0), searchDepth: 100, ...extra,
  });

  before(async () => {
    await ctx.purge();
    await ctx.place(Object.values(docs));
    await readUntil(() => ctx.clients.findTraceIds(base()), (r) => foundTraceIds(r).ids.length >= 2);
  }, { timeout: 60_000 });

  const cases = [
    ['same-span conjunction: tags on two different spans do not match', { attributes: [kv('k1', str('v1')), kv('k2', str('v2'))] }, [TB]],
    ['inclusive bounds: start_time_min = start_time_max = span start', {
      startTimeMin: timestampFromNanos(t0 + S), startTimeMax: timestampFromNanos(t0 + S), operationName: 'op-b' }, [TB]],
    ['inclusive bounds: duration_min = duration_max = span duration', {
      durationMin: durationFromNanos(5000), durationMax: durationFromNanos(5000) }, [TB]],
    ['just outside: start_time_min one ns after the start', {
      startTimeMin: timestampFromNanos(t0 + S + 1n), startTimeMax: timestampFromNanos(t0 + S + 1n) }, []],
    ['typed int query matches string attribute "456"', { attributes: [kv('numstr', { intValue: '456' })] }, [TB]],
    ['string query "123" matches int attribute', { attributes: [kv('num', str('123'))] }, [TB]],
    ['string query "72.5" matches double, "true" matches bool', { attributes: [kv('ratio', str('72.5')), kv('flag', str('true'))] }, [TB]],
    ['string query in base64 matches bytes attribute', { attributes: [kv('blob', str('AAAwOQ=='))] }, [TB]],
    ['int query 124 does not match 123', { attributes: [kv('num', { intValue: '124' })] }, []],
    ['error=true matches status ERROR only', { attributes: [kv('error', { boolValue: true })] }, [TB]],
    ['error="false" matches spans without ERROR', { attributes: [kv('error', str('false'))] }, [TA]],
    ['span.kind=server (case-insensitive)', { attributes: [kv('span.kind', str('SERVER'))] }, [TB]],
    ['span.status=ERROR', { attributes: [kv('span.status', str('error'))] }, [TB]],
    ['scope.name and scope.version', { attributes: [kv('scope.name', str('sem-lib')), kv('scope.version', str('2.0.0'))] }, [TB]],
    ['resource.region matches the resource attribute', { attributes: [kv('resource.region', str('eu-west'))] }, [TB]],
    ['resource.k1 does not match a span attribute', { attributes: [kv('resource.k1', str('v1'))] }, []],
    ['empty service name with an operation', { serviceName: '', operationName: 'op-a' }, [TA]],
  ];
  for (const [what, extra, ids] of cases) {
    test(`FindTraces: ${what}`, async () => {
      const params = base(extra);
      await findTracesChecked(ctx.clients, params, ids.flatMap(expected), what);
      await findTraceIdsChecked(ctx.clients, params, ids, `${what} (ids)`);
    });
  }

  // docs/jaeger-semantics.md §7: no edge within one service (sem-svc → sem-svc in TA); a span without a parent
  // hangs off its first link into its own trace (links-a → links-b), never off a link into another trace.
  test('GetDependencies counts parent→child service calls as Jaeger does: no self-edges, roots follow links', async () => {
    const res = await ctx.clients.getDependencies(timestampFromNanos(t0 - 3600n * S), timestampFromNanos(t0 + 3600n * S));
    const sum = new Map();
    for (const d of res.dependencies) sum.set(`${d.parent}→${d.child}`, (sum.get(`${d.parent}→${d.child}`) ?? 0n) + BigInt(d.callCount));
    assert.deepEqual(Object.fromEntries([...sum].map(([k, v]) => [k, Number(v)])), { 'hello→world': 1, 'world→hello': 3, 'links-a→links-b': 1 });
    // a window that ends before the traces: nothing
    const early = await ctx.clients.getDependencies(timestampFromNanos(t0 - 7200n * S), timestampFromNanos(t0 - 3600n * S));
    assert.deepEqual(early.dependencies, []);
  });

  test('FindTraceSummaries: UNIMPLEMENTED, or summaries that add up (docs/jaeger-semantics.md §2.3)', async () => {
    let msgs;
    try {
      msgs = await ctx.clients.findTraceSummaries(base({ serviceName: 'hello' }));
    } catch (err) {
      assert.equal(err.code, 12 /* UNIMPLEMENTED */, `unexpected status ${err.code}: ${err.details}`);
      assert.equal(err.messagesBeforeError.length, 0, 'UNIMPLEMENTED must come before any message');
      return;
    }
    const sums = msgs.flatMap((m) => m.summaries);
    assert.equal(sums.length, 1);
    const s = sums[0];
    assert.equal(Buffer.from(s.traceId).toString('hex'), TD);
    assert.equal(s.spanCount, 5);
    assert.equal(s.errorSpanCount, 0);
    assert.equal(s.orphanSpanCount, 0);
    assert.deepEqual([s.rootServiceName, s.rootOperationName], ['hello', 'root']);
    assert.equal(BigInt(s.minStartTimeUnixNano), t0 + 2n * S);
    assert.equal(BigInt(s.maxEndTimeUnixNano), t0 + 2n * S + 100n);
    assert.deepEqual(s.services.map((x) => [x.name, x.spanCount, x.errorSpanCount]), [['hello', 4, 0], ['world', 1, 0]]);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// One registration per storage mode. Without its server a bucket mode is skipped with the reason, except in CI
// (CI=true), where a missing server fails the suite (scripts/test.sh starts them for ctest) unless scripts/test.sh
// said why it could not start that emulator (TB_AZURITE_SKIPPED, TB_GCS_EMULATOR_SKIPPED).

const SERVERS = {
  s3: { found: S3, what: 'S3 server', howto: 'start one with RGW_DIR=$(mktemp -d) bash scripts/s3-up.sh, then source $RGW_DIR/env' },
  azure: { found: AZ, what: 'Azure emulator', skipped: 'TB_AZURITE_SKIPPED', howto: 'start Azurite with source <(bash scripts/azurite-up.sh)' },
  gcs: { found: GCS, what: 'GCS emulator', skipped: 'TB_GCS_EMULATOR_SKIPPED', howto: 'start fake-gcs-server with source <(bash scripts/gcs-up.sh)' },
};
for (const mode of MODES) {
  const server = SERVERS[mode.storage];
  if (server && !server.found.env) {
    const why = server.skipped && process.env[server.skipped];
    if (process.env.CI === 'true' && !why) {
      test(`${modeTitle(mode)} needs a ${server.what}`, () => {
        assert.fail(`CI=true but ${server.found.missing}: the ${mode.storage} storage modes must not be skipped in CI (${server.howto})`);
      });
    } else {
      describe(modeTitle(mode), { skip: `${server.found.missing}${why ? ` (${why})` : ''}: ${mode.storage} storage modes skipped (${server.howto})` }, () => {});
    }
    continue;
  }
  describe(modeTitle(mode), () => registerConformance(mode));
}
