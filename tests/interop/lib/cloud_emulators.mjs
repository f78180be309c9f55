// Throw-away containers and buckets on the cloud storage emulators that scripts/test.sh starts, for suites
// that run the server with --storage azblob://… or gs://…: the server does not create them (the stores'
// create_container / create_bucket are for unit tests only), so a suite creates one per server, lists it to
// check what the server left behind, and deletes it afterwards.
//   Azurite (scripts/azurite-up.sh): AZURITE_BLOB_ENDPOINT, AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_KEY. Requests
//     are signed here with SharedKey from Azure's documented rules, on their own (node:crypto), so Azurite checks
//     a second signer besides the server's.
//   fake-gcs-server (scripts/gcs-up.sh): STORAGE_EMULATOR_HOST, no credentials.
import crypto from 'node:crypto';

/** The Azurite named by the environment: {env} or {missing: reason}. */
export function azuriteFromEnv(env = process.env) {
  if (!env.AZURITE_BLOB_ENDPOINT) return { missing: 'AZURITE_BLOB_ENDPOINT is not set' };
  const lacking = ['AZURE_STORAGE_ACCOUNT', 'AZURE_STORAGE_KEY'].filter((k) => !env[k]);
  if (lacking.length) return { missing: `AZURITE_BLOB_ENDPOINT is set but ${lacking.join(', ')} not` };
  return {
    env: { endpoint: env.AZURITE_BLOB_ENDPOINT.replace(/\/+$/, ''), account: env.AZURE_STORAGE_ACCOUNT, key: env.AZURE_STORAGE_KEY },
  };
}

/** The fake-gcs-server named by the environment: {env} or {missing: reason}. */
export function gcsEmulatorFromEnv(env = process.env) {
  if (!env.STORAGE_EMULATOR_HOST) return { missing: 'STORAGE_EMULATOR_HOST is not set' };
  const host = env.STORAGE_EMULATOR_HOST.replace(/\/+$/, '');
  return { env: { endpoint: host.includes('://') ? host : `http://${host}` } };
}

function unescapeXml(s) {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

export class AzureContainer {
  constructor(azEnv, name) {
    this.az = azEnv;
    this.name = name;
  }

  /** One SharedKey-signed request without a body; returns {status, body}. */
  async request(method, blob = '', query = {}) {
    const url = new URL(`${this.az.endpoint}/${this.name}${blob ? `/${blob.split('/').map(encodeURIComponent).join('/')}` : ''}`);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const headers = { 'x-ms-date': new Date().toUTCString(), 'x-ms-version': '2021-12-02' };
    // Verb, eleven standard headers (all empty here: no body, x-ms-date instead of Date), the x-ms-* headers
    // sorted, then /account + path and the query parameters sorted by name.
    const params = [...url.searchParams.keys()].sort().map((k) => `\n${k.toLowerCase()}:${url.searchParams.getAll(k).sort().join(',')}`);
    const toSign = [method, ...Array(11).fill('')].join('\n') + '\n' +
      Object.keys(headers).sort().map((h) => `${h}:${headers[h]}\n`).join('') +
      `/${this.az.account}${url.pathname}${params.join('')}`;
    const sig = crypto.createHmac('sha256', Buffer.from(this.az.key, 'base64')).update(toSign, 'utf8').digest('base64');
    const res = await fetch(url, { method, headers: { ...headers, Authorization: `SharedKey ${this.az.account}:${sig}` } });
    return { status: res.status, body: await res.text() };
  }

  async create() {
    const r = await this.request('PUT', '', { restype: 'container' });
    if (r.status !== 201) throw new Error(`create container ${this.name} at ${this.az.endpoint} → ${r.status}: ${r.body.slice(0, 500)}`);
  }

  /** Every blob name under `prefix` (List Blobs, all pages). */
  async listKeys(prefix = '') {
    const keys = [];
    let marker = '';
    for (;;) {
      const q = { restype: 'container', comp: 'list', prefix };
      if (marker) q.marker = marker;
      const r = await this.request('GET', '', q);
      if (r.status !== 200) throw new Error(`List Blobs ${this.name} → ${r.status}: ${r.body.slice(0, 500)}`);
      for (const m of r.body.matchAll(/<Name>([^<]*)<\/Name>/g)) keys.push(unescapeXml(m[1]));
      marker = unescapeXml(r.body.match(/<NextMarker>([^<]*)<\/NextMarker>/)?.[1] ?? '');
      if (!marker) return keys;
    }
  }

  /** Deletes the container with its blobs. */
  async destroy() {
    const r = await this.request('DELETE', '', { restype: 'container' });
    if (r.status !== 202) throw new Error(`delete container ${this.name} → ${r.status}: ${r.body.slice(0, 300)}`);
  }
}

export class GcsBucket {
  constructor(gcsEnv, name) {
    this.gcs = gcsEnv;
    this.name = name;
  }

  async create() {
    const res = await fetch(`${this.gcs.endpoint}/storage/v1/b?project=tracebucket-test`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: this.name }),
    });
    if (res.status !== 200) throw new Error(`create bucket ${this.name} at ${this.gcs.endpoint} → ${res.status}: ${await res.text()}`);
  }

  /** Every object name under `prefix` (all pages). */
  async listKeys(prefix = '') {
    const keys = [];
    let token = '';
    for (;;) {
      const url = new URL(`${this.gcs.endpoint}/storage/v1/b/${this.name}/o`);
      url.searchParams.set('prefix', prefix);
      if (token) url.searchParams.set('pageToken', token);
      const res = await fetch(url);
      if (res.status !== 200) throw new Error(`list ${this.name} → ${res.status}: ${await res.text()}`);
      const page = await res.json();
      for (const item of page.items ?? []) keys.push(item.name);
      token = page.nextPageToken ?? '';
      if (!token) return keys;
    }
  }

  /** Deletes every object, then the bucket. */
  async destroy() {
    for (const k of await this.listKeys()) {
      const res = await fetch(`${this.gcs.endpoint}/storage/v1/b/${this.name}/o/${encodeURIComponent(k)}`, { method: 'DELETE' });
      if (res.status !== 204 && res.status !== 200) throw new Error(`delete ${this.name}/${k} → ${res.status}`);
    }
    const res = await fetch(`${this.gcs.endpoint}/storage/v1/b/${this.name}`, { method: 'DELETE' });
    if (res.status !== 204 && res.status !== 200) throw new Error(`delete bucket ${this.name} → ${res.status}`);
  }
}
