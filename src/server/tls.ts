import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createSecureContext, type SecureContextOptions } from "node:tls";
import { formatSubject } from "../pipeline/index.js";

/**
 * The certificate files of a TLS port, as paths: they are read when the
 * server is created and read again by `reloadTls()`, so a renewed
 * certificate is picked up without a restart.
 */
export interface TlsOptions {
  /** PEM file: the server's certificate, followed by any intermediate certificates. */
  readonly certFile: string;
  /** PEM file: the certificate's private key, unencrypted. */
  readonly keyFile: string;
  /**
   * PEM file: the CA certificate(s) that sign client certificates. Set, it
   * makes the port mutual TLS: a client without a certificate signed by one
   * of them is refused at the handshake, and each call's `ctx.tlsSubject`
   * names the certificate of the caller. @default unset (no client certificates)
   */
  readonly clientCaFile?: string;
}

/** Which of {@link TlsOptions}' files a {@link TlsFileError} is about. */
export type TlsFileOption = "certFile" | "keyFile" | "clientCaFile";

/**
 * A certificate file that cannot be read or used. The message names the
 * option and the path; `reason` is what is wrong, for callers that name
 * the file their own way (the CLI names the environment variable).
 */
export class TlsFileError extends Error {
  override name = "TlsFileError";
  constructor(
    readonly option: TlsFileOption,
    readonly path: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`tls.${option} ${path}: ${reason}`, options);
  }
}

/** What the files hold, checked: the context options of the TLS server, and what logs show. */
export interface TlsMaterial {
  readonly context: SecureContextOptions;
  /** The server certificate's subject, as `tlsSubject` formats one. */
  readonly subject: string;
  /** When the server certificate expires, as OpenSSL prints it. */
  readonly validTo: string;
}

interface TlsFiles {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | undefined;
}

// The TLS version HTTP/2 requires (RFC 9113, 9.2); given at start and at every reload,
// because setSecureContext() resets what it is not given.
const MIN_TLS_VERSION = "TLSv1.2";

/** `ENOENT: no such file or directory`, without the `, open '<path>'` the message repeats. */
function readFailure(option: TlsFileOption, path: string, error: unknown): TlsFileError {
  const message = error instanceof Error ? error.message : String(error);
  return new TlsFileError(option, path, `cannot be read: ${message.replace(/, \w+ '.*'$/, "")}`, {
    cause: error,
  });
}

function readSync(option: TlsFileOption, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw readFailure(option, path, error);
  }
}

async function read(option: TlsFileOption, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw readFailure(option, path, error);
  }
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function secureContext(option: TlsFileOption, path: string, context: SecureContextOptions): void {
  try {
    createSecureContext(context);
  } catch (error) {
    throw new TlsFileError(option, path, reasonOf(error), { cause: error });
  }
}

/** Checks each file on its own first, so the error names the one at fault, then all together. */
function check(options: TlsOptions, files: TlsFiles): TlsMaterial {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(files.cert);
  } catch (error) {
    throw new TlsFileError(
      "certFile",
      options.certFile,
      `not a PEM certificate (${reasonOf(error)})`,
      { cause: error },
    );
  }
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(files.key);
  } catch (error) {
    throw new TlsFileError(
      "keyFile",
      options.keyFile,
      `not an unencrypted PEM private key (${reasonOf(error)})`,
      { cause: error },
    );
  }
  if (!certificate.checkPrivateKey(key)) {
    throw new TlsFileError(
      "keyFile",
      options.keyFile,
      `is not the private key of the certificate in ${options.certFile}`,
    );
  }
  const context: SecureContextOptions = {
    cert: files.cert,
    key: files.key,
    minVersion: MIN_TLS_VERSION,
  };
  // What OpenSSL itself refuses (a key too small, a broken chain) surfaces here, not at the first handshake.
  secureContext("certFile", options.certFile, context);
  if (files.ca !== undefined && options.clientCaFile !== undefined) {
    try {
      new X509Certificate(files.ca);
    } catch (error) {
      throw new TlsFileError(
        "clientCaFile",
        options.clientCaFile,
        `not a PEM certificate (${reasonOf(error)})`,
        { cause: error },
      );
    }
    context.ca = files.ca;
    secureContext("clientCaFile", options.clientCaFile, context);
  }
  return { context, subject: formatSubject(certificate.subject), validTo: certificate.validTo };
}

/** Reads and checks the files at start-up, so a bad one stops the server being created. */
export function loadTlsSync(options: TlsOptions): TlsMaterial {
  return check(options, {
    cert: readSync("certFile", options.certFile),
    key: readSync("keyFile", options.keyFile),
    ca:
      options.clientCaFile === undefined
        ? undefined
        : readSync("clientCaFile", options.clientCaFile),
  });
}

/** Reads and checks the files again (SIGHUP) without blocking the calls in flight. */
export async function loadTls(options: TlsOptions): Promise<TlsMaterial> {
  const [cert, key, ca] = await Promise.all([
    read("certFile", options.certFile),
    read("keyFile", options.keyFile),
    options.clientCaFile === undefined ? undefined : read("clientCaFile", options.clientCaFile),
  ]);
  return check(options, { cert, key, ca });
}
