import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A certificate and its key, as PEM files. */
export interface CertFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

/**
 * A throwaway PKI made with openssl for one suite: a CA, two server
 * certificates it signed (for 127.0.0.1 and localhost, told apart by CN),
 * client certificates, and a second CA that nothing here trusts.
 */
export interface TestPki {
  readonly dir: string;
  /** The CA of everything below but `stranger`. */
  readonly caFile: string;
  /** `CN=hubbus-1`, SAN `IP:127.0.0.1`, `DNS:localhost`. */
  readonly server: CertFiles;
  /** `CN=hubbus-2`, same names: the renewed certificate of a reload. */
  readonly server2: CertFiles;
  /** `CN=billing`. */
  readonly client: CertFiles;
  /** `CN=billing, O=Acme`: a subject of two attributes, in this order. */
  readonly acmeClient: CertFiles;
  /** A CA nobody trusts, and `CN=billing` signed by it. */
  readonly strangerCaFile: string;
  readonly stranger: CertFiles;
  read(file: string): Promise<Buffer>;
  cleanup(): Promise<void>;
}

const CONFIG = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

// P-256 keys: made in milliseconds, where RSA keys take long on a busy machine.
const NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function openssl(args: readonly string[], cwd: string): Promise<void> {
  try {
    await run("openssl", args, { cwd });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") {
      throw new Error("openssl is not installed: the TLS suites need it (apt-get install openssl)");
    }
    throw new Error(`openssl ${args.join(" ")} failed: ${e.stderr ?? e.message}`);
  }
}

/** Makes the PKI in a new temporary directory; `cleanup()` removes it. */
export async function createTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), "hubbus-tls-"));
  const config = join(dir, "openssl.cnf");
  await writeFile(config, CONFIG);

  async function ca(name: string): Promise<CertFiles> {
    const files = { certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}.key`) };
    await openssl(
      [
        "req",
        "-x509",
        "-config",
        config,
        "-extensions",
        "ca",
        ...NEW_KEY,
        "-keyout",
        files.keyFile,
        "-out",
        files.certFile,
        "-days",
        "2",
        "-subj",
        `/CN=hubbus test ${name}`,
      ],
      dir,
    );
    return files;
  }

  async function leaf(
    name: string,
    subject: string,
    kind: "server" | "client",
    issuer: CertFiles,
  ): Promise<CertFiles> {
    const files = { certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}.key`) };
    const request = join(dir, `${name}.csr`);
    await openssl(
      [
        "req",
        "-new",
        "-config",
        config,
        ...NEW_KEY,
        "-keyout",
        files.keyFile,
        "-out",
        request,
        "-subj",
        subject,
      ],
      dir,
    );
    await openssl(
      [
        "x509",
        "-req",
        "-in",
        request,
        "-CA",
        issuer.certFile,
        "-CAkey",
        issuer.keyFile,
        "-set_serial",
        `0x${randomBytes(8).toString("hex")}`,
        "-days",
        "2",
        "-extfile",
        config,
        "-extensions",
        kind,
        "-out",
        files.certFile,
      ],
      dir,
    );
    return files;
  }

  try {
    const [authority, strangerAuthority] = await Promise.all([ca("ca"), ca("stranger-ca")]);
    const [server, server2, client, acmeClient, stranger] = await Promise.all([
      leaf("server", "/CN=hubbus-1", "server", authority),
      leaf("server2", "/CN=hubbus-2", "server", authority),
      leaf("client", "/CN=billing", "client", authority),
      leaf("acme", "/CN=billing/O=Acme", "client", authority),
      leaf("stranger", "/CN=billing", "client", strangerAuthority),
    ]);
    return {
      dir,
      caFile: authority.certFile,
      server,
      server2,
      client,
      acmeClient,
      strangerCaFile: strangerAuthority.certFile,
      stranger,
      read: (file) => readFile(file),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
