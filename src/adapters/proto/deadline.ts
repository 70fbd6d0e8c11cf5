import { Code, ConnectError } from "@connectrpc/connect";

/** The longest delay `setTimeout` takes (2^31 - 1 ms); a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647;

/** Milliseconds per unit of the `grpc-timeout` header (gRPC over HTTP/2, "Timeout"). */
const TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000_001,
};

/**
 * The deadline a `grpc-timeout` header asks for, in milliseconds; undefined
 * when there is none. Malformed values are the client's error, as in connect-node.
 */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (match === null) {
    throw new ConnectError(
      `protocol error: invalid grpc timeout value: ${value}`,
      Code.InvalidArgument,
    );
  }
  return Number(match[1]) * (TIMEOUT_UNIT_MS[match[2] as string] ?? 1);
}
