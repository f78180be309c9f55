// Loads the project's own .proto files (repo/proto) with @grpc/proto-loader, plus the tiny health.proto that lives
// beside these tests. One set of loader options everywhere:
//   keepCase false (lowerCamelCase fields), longs as decimal String, enums as Number, bytes as Buffer,
//   defaults on, oneofs on (AnyValue.value names the member that is set).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protoLoader from '@grpc/proto-loader';
import grpc from '@grpc/grpc-js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const INTEROP_DIR = path.resolve(here, '..');
export const REPO_DIR = path.resolve(INTEROP_DIR, '..', '..');
export const REPO_PROTO_DIR = path.join(REPO_DIR, 'proto');
export const TEST_PROTO_DIR = path.join(INTEROP_DIR, 'proto');

export const LOADER_OPTIONS = Object.freeze({
  keepCase: false,
  longs: String,
  enums: Number,
  defaults: true,
  arrays: true,
  oneofs: true,
  includeDirs: [REPO_PROTO_DIR, TEST_PROTO_DIR],
});

const PROTO_FILES = [
  'opentelemetry/proto/collector/trace/v1/trace_service.proto',
  'opentelemetry/proto/trace/v1/trace.proto',
  'jaeger/storage/v2/trace_storage.proto',
  'jaeger/storage/v2/dependency_storage.proto',
  'jaeger/storage/v2/capabilities.proto',
  'grpc/health/v1/health.proto',
];

let cached;

/** @returns {{packageDefinition: object, grpcObject: object}} */
export function loadProtos() {
  if (!cached) {
    const packageDefinition = protoLoader.loadSync(PROTO_FILES, LOADER_OPTIONS);
    cached = { packageDefinition, grpcObject: grpc.loadPackageDefinition(packageDefinition) };
  }
  return cached;
}

// proto-loader exposes (de)serialisers only on method definitions. Every message we encode or decode by hand is the
// request or response of some method, so find it there: the method's message descriptor equals the package
// definition's descriptor for that full name (descriptors are rebuilt per use, so compare them by content).
function findCodec(fullName) {
  const { packageDefinition } = loadProtos();
  const wanted = packageDefinition[fullName];
  if (!wanted || !wanted.type) throw new Error(`unknown message type ${fullName}`);
  const wantedJson = JSON.stringify(wanted.type);
  for (const svc of Object.values(packageDefinition)) {
    if (!svc || typeof svc !== 'object' || svc.format) continue;
    for (const m of Object.values(svc)) {
      if (!m || typeof m !== 'object' || !m.requestType) continue;
      if (JSON.stringify(m.requestType.type) === wantedJson) return { encode: m.requestSerialize, decode: m.requestDeserialize };
      if (JSON.stringify(m.responseType.type) === wantedJson) return { encode: m.responseSerialize, decode: m.responseDeserialize };
    }
  }
  throw new Error(`no method uses ${fullName}; cannot encode it with proto-loader`);
}

const codecs = new Map();
function codec(fullName) {
  if (!codecs.has(fullName)) codecs.set(fullName, findCodec(fullName));
  return codecs.get(fullName);
}

/** Serialises a plain object (loader conventions) as message `fullName`; returns a Buffer. */
export function encodeMessage(fullName, obj) {
  return codec(fullName).encode(obj);
}

/** Parses bytes as message `fullName` into a plain object (loader conventions). */
export function decodeMessage(fullName, buf) {
  return codec(fullName).decode(buf);
}
