// A throw-away bucket on a real S3 server (scripts/s3-up.sh: Ceph RGW) for suites that run the server with
// --storage s3://…: the server does not create buckets (S3Store's create_bucket is for unit tests only), so the
// suite creates one per server, lists it to check what the server left behind, and deletes it afterwards.
// Requests are signed by curl --aws-sigv4, with what RGW 16 insists on: always send x-amz-content-sha256, query
// parameters sorted by name and percent-encoded.
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The S3 server named by the environment (S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY, S3_SECRET_KEY, as exported by
 * scripts/s3-up.sh / scripts/test.sh). Returns {env} or {missing: reason}.
 */
export function s3FromEnv(env = process.env) {
  if (!env.S3_ENDPOINT) return { missing: 'S3_ENDPOINT is not set' };
  const lacking = ['S3_ACCESS_KEY', 'S3_SECRET_KEY'].filter((k) => !env[k]);
  if (lacking.length) return { missing: `S3_ENDPOINT is set but ${lacking.join(', ')} not` };
  return {
    env: {
      endpoint: env.S3_ENDPOINT.replace(/\/+$/, ''),
      region: env.S3_REGION || 'us-east-1',
      accessKey: env.S3_ACCESS_KEY,
      secretKey: env.S3_SECRET_KEY,
    },
  };
}

let counter = 0;
/** A bucket name nobody else uses: 3-63 lowercase characters. */
export function uniqueBucketName(tag = 'tb') {
  return `${tag}-${process.pid}-${++counter}-${crypto.randomBytes(4).toString('hex')}`.toLowerCase().slice(0, 63);
}

export class S3Bucket {
  constructor(s3env, name) {
    this.s3 = s3env;
    this.name = name;
  }

  /** One signed request; returns {status, body}. `query`: object, sorted and encoded here. */
  async request(method, key = '', query = {}) {
    const qs = Object.keys(query).sort().map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(query[k])}`).join('&');
    const url = `${this.s3.endpoint}/${this.name}${key ? `/${key.split('/').map(encodeURIComponent).join('/')}` : ''}${qs ? `?${qs}` : ''}`;
    const { stdout } = await run('curl', ['-sS', '--max-time', '30', '--aws-sigv4', `aws:amz:${this.s3.region}:s3`,
      '--user', `${this.s3.accessKey}:${this.s3.secretKey}`, '-H', 'x-amz-content-sha256: UNSIGNED-PAYLOAD',
      '-X', method, '-o', '-', '-w', '\n%{http_code}', url], { maxBuffer: 64 * 1024 * 1024 });
    const cut = stdout.lastIndexOf('\n');
    return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
  }

  /** The object's bytes (a Buffer). */
  async getObject(key) {
    const file = path.join(os.tmpdir(), `tb-s3-get-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
    try {
      const status = await this.#transfer('GET', key, ['-o', file]);
      if (status !== 200) throw new Error(`GET ${this.name}/${key} → ${status}`);
      return fs.readFileSync(file);
    } finally {
      fs.rmSync(file, { force: true });
    }
  }

  /** Stores `bytes` (a Buffer) as the object `key`. */
  async putObject(key, bytes) {
    const file = path.join(os.tmpdir(), `tb-s3-put-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
    fs.writeFileSync(file, bytes);
    try {
      const status = await this.#transfer('PUT', key, ['--data-binary', `@${file}`, '-o', '/dev/null']);
      if (status !== 200) throw new Error(`PUT ${this.name}/${key} → ${status}`);
    } finally {
      fs.rmSync(file, { force: true });
    }
  }

  /** One signed request whose body goes to or comes from a file (curl arguments in `io`); returns the status. */
  async #transfer(method, key, io) {
    const url = `${this.s3.endpoint}/${this.name}/${key.split('/').map(encodeURIComponent).join('/')}`;
    const { stdout } = await run('curl', ['-sS', '--max-time', '60', '--aws-sigv4', `aws:amz:${this.s3.region}:s3`,
      '--user', `${this.s3.accessKey}:${this.s3.secretKey}`, '-H', 'x-amz-content-sha256: UNSIGNED-PAYLOAD',
      '-X', method, ...io, '-w', '%{http_code}', url]);
    return Number(stdout.trim());
  }

  async create() {
    const r = await this.request('PUT');
    if (r.status !== 200) throw new Error(`PUT bucket ${this.name} at ${this.s3.endpoint} → ${r.status}: ${r.body.slice(0, 500)}`);
  }

  /** Every key under `prefix` (ListObjectsV2, all pages). */
  async listKeys(prefix = '') {
    const keys = [];
    let token;
    for (;;) {
      const q = { 'list-type': '2', prefix };
      if (token) q['continuation-token'] = token;
      const r = await this.request('GET', '', q);
      if (r.status !== 200) throw new Error(`ListObjectsV2 ${this.name} → ${r.status}: ${r.body.slice(0, 500)}`);
      for (const m of r.body.matchAll(/<Key>([^<]*)<\/Key>/g)) keys.push(unescapeXml(m[1]));
      const next = /<IsTruncated>true<\/IsTruncated>/.test(r.body) && r.body.match(/<NextContinuationToken>([^<]*)</);
      if (!next) return keys;
      token = unescapeXml(next[1]);
    }
  }

  /** Deletes every object, then the bucket. */
  async destroy() {
    for (const k of await this.listKeys()) {
      const r = await this.request('DELETE', k);
      if (r.status !== 204 && r.status !== 200) throw new Error(`DELETE ${this.name}/${k} → ${r.status}: ${r.body.slice(0, 300)}`);
    }
    const r = await this.request('DELETE');
    if (r.status !== 204 && r.status !== 200) throw new Error(`DELETE bucket ${this.name} → ${r.status}: ${r.body.slice(0, 300)}`);
  }
}

function unescapeXml(s) {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}
