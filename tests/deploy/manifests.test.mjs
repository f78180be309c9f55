// Schema checks of deploy/kubernetes/*.yaml with kubernetes-models (the Kubernetes API's OpenAPI schemas, compiled
// to validators): every document must be a known apiVersion/kind and pass its schema (types, required fields,
// enums). The validator does not refuse unknown fields, so the test also checks, by name, what the deployment relies
// on: the probes on /live and /ready, the WAL volume, the S3 secret the pod reads and the Service's ports.
// A broken copy of the StatefulSet must fail the schema, so the check is known to bite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'deploy', 'kubernetes');
const MODELS = { 'apps/v1/StatefulSet': StatefulSet, 'v1/Secret': Secret, 'v1/Service': Service };

const docs = fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().flatMap((file) =>
  YAML.parseAllDocuments(fs.readFileSync(path.join(dir, file), 'utf8')).map((d) => {
    assert.equal(d.errors.length, 0, `${file}: ${d.errors.join('; ')}`);
    return { file, doc: d.toJS() };
  }));
const ofKind = (kind) => docs.filter((d) => d.doc.kind === kind).map((d) => d.doc);

test('every manifest passes the Kubernetes schema of its kind', () => {
  assert.ok(docs.length >= 4, `found ${docs.length} documents`);
  for (const { file, doc } of docs) {
    const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
    assert.ok(Model, `${file}: unexpected ${doc.apiVersion} ${doc.kind}`);
    assert.doesNotThrow(() => new Model(doc).validate(), `${file}: ${doc.kind} ${doc.metadata?.name}`);
  }
});

test('the validator refuses a broken StatefulSet', () => {
  const [sts] = ofKind('StatefulSet');
  const wrongType = structuredClone(sts);
  wrongType.spec.template.spec.containers[0].ports[0].containerPort = 'four-three-one-seven';
  assert.throws(() => new StatefulSet(wrongType).validate(), /containerPort/);
  const noSelector = structuredClone(sts);
  delete noSelector.spec.selector;
  assert.throws(() => new StatefulSet(noSelector).validate(), /selector/);
});

test('the StatefulSet probes /live and /ready, keeps the WAL on a volume and reads the S3 secret', () => {
  const [sts] = ofKind('StatefulSet');
  const [container] = sts.spec.template.spec.containers;
  assert.equal(container.livenessProbe.httpGet.path, '/live');
  assert.equal(container.readinessProbe.httpGet.path, '/ready');
  const env = Object.fromEntries(container.env.map((e) => [e.name, e.value]));
  const mount = container.volumeMounts.find((m) => m.mountPath === env.TRACEBUCKET_DATA_DIR);
  assert.ok(mount, 'the data dir (WAL) is a mounted volume');
  assert.ok(sts.spec.volumeClaimTemplates.some((c) => c.metadata.name === mount.name), 'backed by a volume claim');
  const secretNames = ofKind('Secret').map((s) => s.metadata.name);
  const fromSecret = container.envFrom.map((e) => e.secretRef?.name);
  assert.ok(fromSecret.some((n) => secretNames.includes(n)), 'envFrom names the secret of secret.yaml');
  const [secret] = ofKind('Secret');
  assert.deepEqual(Object.keys(secret.stringData).sort(), ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']);
  // Every TRACEBUCKET_ variable is a documented setting (docs/configuration.md; a unit test holds the doc to the code).
  const reference = fs.readFileSync(path.join(dir, '..', '..', 'docs', 'configuration.md'), 'utf8');
  for (const name of Object.keys(env).filter((n) => n.startsWith('TRACEBUCKET_'))) {
    assert.ok(reference.includes(`\`${name}\``), `${name} is not in docs/configuration.md`);
  }
  assert.ok(container.resources.requests.memory, 'a memory request');
  const ports = new Set(container.ports.map((p) => p.name));
  for (const svc of ofKind('Service')) {
    assert.equal(svc.spec.selector['app.kubernetes.io/name'], sts.spec.template.metadata.labels['app.kubernetes.io/name']);
    for (const p of svc.spec.ports) assert.ok(ports.has(p.targetPort), `${svc.metadata.name}: port ${p.targetPort}`);
  }
});
