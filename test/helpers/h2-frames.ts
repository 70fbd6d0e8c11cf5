import * as net from "node:net";

// HTTP/2 written frame by frame, for what node:http2's client will not send:
// more streams than the server allows, broken frames, headers the client
// would refuse. Header blocks use HPACK literals only (RFC 7541 §6.2.2).

export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
export const FRAME = {
  DATA: 0,
  HEADERS: 1,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
} as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;

/** One frame: 9-byte header and payload. */
export function h2Frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = Buffer.alloc(0),
): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

function hpackInteger(value: number, prefixBits: number, first: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, "latin1");
  return Buffer.concat([Buffer.from(hpackInteger(bytes.length, 7, 0)), bytes]);
}

/** A header block of literals without indexing, in the order given. */
export function hpackBlock(headers: ReadonlyArray<readonly [string, string]>): Buffer {
  return Buffer.concat(
    headers.flatMap(([name, value]) => [Buffer.from([0]), hpackString(name), hpackString(value)]),
  );
}

/** What the server sent on a raw connection, frame by frame. */
export interface ServerFrame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/** A raw HTTP/2 connection: the preface and an empty SETTINGS sent, the server's SETTINGS acknowledged. */
export interface RawH2 {
  send(bytes: Uint8Array): void;
  readonly frames: ServerFrame[];
  /** Resolves when the server closed the connection. */
  readonly closed: Promise<void>;
  /** The first frame `match` accepts, now or later; rejects if the connection closes first. */
  next(match: (frame: ServerFrame) => boolean): Promise<ServerFrame>;
  destroy(): void;
}

export function openRawH2(port: number): RawH2 {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {});
  const frames: ServerFrame[] = [];
  const waiting: {
    match: (f: ServerFrame) => boolean;
    resolve: (f: ServerFrame) => void;
    reject: (e: Error) => void;
  }[] = [];
  let pending = Buffer.alloc(0);
  let isClosed = false;
  const closed = new Promise<void>((resolve) =>
    socket.on("close", () => {
      isClosed = true;
      for (const w of waiting.splice(0)) w.reject(new Error("the connection closed"));
      resolve();
    }),
  );
  socket.on("data", (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 9) {
      const length = pending.readUIntBE(0, 3);
      if (pending.length < 9 + length) break;
      const frame: ServerFrame = {
        type: pending[3] as number,
        flags: pending[4] as number,
        streamId: pending.readUInt32BE(5) & 0x7fffffff,
        payload: pending.subarray(9, 9 + length),
      };
      pending = pending.subarray(9 + length);
      frames.push(frame);
      if (frame.type === FRAME.SETTINGS && (frame.flags & FLAG.ACK) === 0) {
        socket.write(h2Frame(FRAME.SETTINGS, FLAG.ACK, 0));
      }
      for (const w of [...waiting]) {
        if (w.match(frame)) {
          waiting.splice(waiting.indexOf(w), 1);
          w.resolve(frame);
        }
      }
    }
  });
  socket.write(Buffer.concat([PREFACE, h2Frame(FRAME.SETTINGS, 0, 0)]));
  return {
    send: (bytes) => {
      if (!socket.destroyed) socket.write(bytes);
    },
    frames,
    closed,
    next(match) {
      const seen = frames.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      if (isClosed) return Promise.reject(new Error("the connection closed"));
      return new Promise((resolve, reject) => waiting.push({ match, resolve, reject }));
    },
    destroy: () => socket.destroy(),
  };
}

/** The SETTINGS values the server announced (identifier → value). */
export function settingsOf(frame: ServerFrame): Map<number, number> {
  const values = new Map<number, number>();
  for (let i = 0; i + 6 <= frame.payload.length; i += 6) {
    values.set(frame.payload.readUInt16BE(i), frame.payload.readUInt32BE(i + 2));
  }
  return values;
}

/** The request headers of a gRPC-style POST to `path`. */
export function postHeaders(
  path: string,
  contentType: string,
  extra: ReadonlyArray<readonly [string, string]> = [],
) {
  return hpackBlock([
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", "127.0.0.1"],
    ["content-type", contentType],
    ["te", "trailers"],
    ...extra,
  ]);
}
