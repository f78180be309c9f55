// google.rpc.Status error details as clients see them: a gRPC error's `grpc-status-details-bin` trailer or an
// OTLP/HTTP error body, decoded by protobufjs from the project's own proto/google/rpc/{status,retry_info}.proto
// (google.protobuf.Any and Duration are protobufjs's built-in definitions, not ours).
import path from 'node:path';
import protobuf from 'protobufjs';
import { REPO_PROTO_DIR } from './proto.mjs';

export const RETRY_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.RetryInfo';

let types;
function load() {
  if (!types) {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => path.join(REPO_PROTO_DIR, target);
    root.loadSync(['google/rpc/status.proto', 'google/rpc/retry_info.proto'], { keepCase: false });
    types = { status: root.lookupType('google.rpc.Status'), retryInfo: root.lookupType('google.rpc.RetryInfo') };
  }
  return types;
}

/**
 * Decodes a serialized google.rpc.Status.
 * @returns {{code: number, message: string, details: {typeUrl: string, retryDelayMs?: number}[]}} a RetryInfo detail
 *   gets retryDelayMs (its Duration in ms)
 */
export function decodeRpcStatus(bytes) {
  const { status, retryInfo } = load();
  const s = status.toObject(status.decode(bytes), { longs: Number, defaults: true });
  return {
    code: s.code,
    message: s.message,
    // protobufjs's built-in Any keeps its field names as written in the .proto (type_url)
    details: s.details.map(({ type_url: typeUrl, value }) => {
      if (typeUrl !== RETRY_INFO_TYPE_URL) return { typeUrl };
      const delay = retryInfo.toObject(retryInfo.decode(value), { longs: Number, defaults: true }).retryDelay ?? {};
      return { typeUrl, retryDelayMs: (delay.seconds ?? 0) * 1000 + (delay.nanos ?? 0) / 1e6 };
    }),
  };
}

/** The google.rpc.Status in a @grpc/grpc-js error's grpc-status-details-bin trailer, or null when there is none. */
export function grpcErrorDetails(err) {
  const [bytes] = err?.metadata?.get?.('grpc-status-details-bin') ?? [];
  return bytes ? decodeRpcStatus(bytes) : null;
}

/** The retry delay (ms) of the first RetryInfo among a decoded Status's details, or null. */
export function retryDelayMsOf(status) {
  return status?.details.find((d) => d.typeUrl === RETRY_INFO_TYPE_URL)?.retryDelayMs ?? null;
}
