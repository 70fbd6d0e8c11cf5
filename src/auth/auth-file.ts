import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { isValidServiceName, type SubjectRules, validatePattern } from "../core/index.js";

/** One caller as the `AUTH_FILE` describes it (contract §7), validated. */
export interface CallerEntry {
  /** Unique; names the caller in logs and errors. */
  readonly name: string;
  /** Lower-case hex SHA-256 of the caller's API key. */
  readonly apiKeySha256?: string;
  /** The client certificate subject that identifies the caller under mutual TLS, normalised (`CN=billing, O=Acme`). */
  readonly tlsSubject?: string;
  /** The origin service of the caller's events. @default name */
  readonly service: string;
  readonly publish: SubjectRules;
  readonly subscribe: SubjectRules;
}

/** The `jwt` member of the `AUTH_FILE`, validated. */
export interface JwtSettings {
  /** Where the signing keys are fetched (and cached); exactly one of this and `jwks`. */
  readonly jwksUrl?: string;
  /** The keys of `jwks_file`, read when the file was loaded. */
  readonly jwks?: { readonly keys: readonly object[] };
  readonly issuer: string;
  readonly audience: string | readonly string[];
  readonly algorithms: readonly string[];
  /** Seconds of clock skew allowed on `exp` and `nbf`. @default DEFAULT_CLOCK_TOLERANCE_S */
  readonly clockToleranceS: number;
}

/** The `AUTH_FILE`, validated. */
export interface AuthSettings {
  readonly callers: readonly CallerEntry[];
  readonly jwt?: JwtSettings;
}

/** `exp`/`nbf` skew allowed by default: clocks of hosts under NTP agree far better than this. */
export const DEFAULT_CLOCK_TOLERANCE_S = 30;

/** The JWS algorithms a `jwt.algorithms` list may name (asymmetric only: the gateway holds no secret). */
export const JWT_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
] as const;

/** An `AUTH_FILE` that cannot be used; the message names the file, the entry and the field. */
export class AuthFileError extends Error {
  override name = "AuthFileError";
}

type Json = Record<string, unknown>;

const CALLER_FIELDS = new Set([
  "name",
  "api_key_sha256",
  "tls_subject",
  "service",
  "publish",
  "subscribe",
]);
const RULES_FIELDS = new Set(["allow", "deny"]);
const JWT_FIELDS = new Set([
  "jwks_url",
  "jwks_file",
  "issuer",
  "audience",
  "algorithms",
  "clock_tolerance_s",
]);
/** The fields of a JWT's `hubbus` claim: a caller entry without the identity. */
export const CLAIM_FIELDS = new Set(["service", "publish", "subscribe"]);

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Throws on a member the schema does not know: a misspelt `"denny"` would
 * otherwise leave a caller with more rights than its author meant.
 */
function checkFields(object: Json, known: ReadonlySet<string>, where: string): void {
  for (const key of Object.keys(object)) {
    if (!known.has(key)) {
      throw new AuthFileError(`${where}: unknown field "${key}" (known: ${[...known].join(", ")})`);
    }
  }
}

function rulesOf(value: unknown, where: string): SubjectRules {
  if (value === undefined) return {};
  if (!isObject(value)) throw new AuthFileError(`${where}: must be an object with allow and deny`);
  checkFields(value, RULES_FIELDS, where);
  const list = (key: "allow" | "deny"): readonly string[] | undefined => {
    const raw = value[key];
    if (raw === undefined) return undefined;
    if (!Array.isArray(raw)) throw new AuthFileError(`${where}.${key}: must be a list of patterns`);
    if (key === "allow" && raw.length === 0) {
      // nats-server reads an empty allow list as no list at all: everything. Nobody writes [] meaning that.
      throw new AuthFileError(
        `${where}.allow: an empty list would allow everything (as in nats-server); leave allow out for everything, or deny [">"] for nothing`,
      );
    }
    return raw.map((pattern, i) => {
      try {
        return validatePattern(pattern, `${where}.${key}[${i}]`);
      } catch (error) {
        throw new AuthFileError((error as Error).message);
      }
    });
  };
  const allow = list("allow");
  const deny = list("deny");
  return {
    ...(allow === undefined ? {} : { allow }),
    ...(deny === undefined ? {} : { deny }),
  };
}

/** The grants of an entry or a JWT claim: service and permissions. */
export function grantsOf(
  value: Json,
  name: string,
  where: string,
): Pick<CallerEntry, "service" | "publish" | "subscribe"> {
  const service = value.service ?? name;
  if (typeof service !== "string" || !isValidServiceName(service)) {
    throw new AuthFileError(`${where}.service: must be 1..64 characters of [A-Za-z0-9_.-]`);
  }
  return {
    service,
    publish: rulesOf(value.publish, `${where}.publish`),
    subscribe: rulesOf(value.subscribe, `${where}.subscribe`),
  };
}

/**
 * A certificate subject in one spelling: `CN=billing,O=Acme` and
 * `CN=billing, O=Acme` are the same subject. Attribute names are
 * case-insensitive in X.500, values are compared as written.
 */
export function normaliseTlsSubject(subject: string): string {
  return subject
    .split(",")
    .map((part) => {
      const eq = part.indexOf("=");
      return eq < 0
        ? part.trim()
        : `${part.slice(0, eq).trim().toUpperCase()}=${part.slice(eq + 1).trim()}`;
    })
    .join(", ");
}

function callerOf(value: unknown, index: number): CallerEntry {
  let where = `callers[${index}]`;
  if (!isObject(value)) throw new AuthFileError(`${where}: must be an object`);
  const { name } = value;
  if (typeof name !== "string" || name.trim() === "") {
    throw new AuthFileError(`${where}.name: must be a non-empty string`);
  }
  where = `callers[${index}] ("${name}")`;
  checkFields(value, CALLER_FIELDS, where);
  const key = value.api_key_sha256;
  if (key !== undefined && (typeof key !== "string" || !/^[0-9a-fA-F]{64}$/.test(key))) {
    throw new AuthFileError(
      `${where}.api_key_sha256: must be 64 hex digits (the SHA-256 of the key, e.g. \`printf %s "$KEY" | sha256sum\`)`,
    );
  }
  const subject = value.tls_subject;
  if (subject !== undefined && (typeof subject !== "string" || !subject.includes("="))) {
    throw new AuthFileError(
      `${where}.tls_subject: must be a certificate subject such as "CN=billing"`,
    );
  }
  if (key === undefined && subject === undefined) {
    throw new AuthFileError(
      `${where}: needs api_key_sha256 or tls_subject (JWT callers are not listed; they bring their grants in the token)`,
    );
  }
  return {
    name,
    ...(key === undefined ? {} : { apiKeySha256: (key as string).toLowerCase() }),
    ...(subject === undefined ? {} : { tlsSubject: normaliseTlsSubject(subject as string) }),
    ...grantsOf(value, name, where),
  };
}

function jwtOf(value: unknown, baseDir: string): JwtSettings {
  const where = "jwt";
  if (!isObject(value)) throw new AuthFileError(`${where}: must be an object`);
  checkFields(value, JWT_FIELDS, where);
  const { jwks_url: url, jwks_file: file, issuer, audience, algorithms } = value;
  if ((url === undefined) === (file === undefined)) {
    throw new AuthFileError(`${where}: needs exactly one of jwks_url and jwks_file`);
  }
  let jwksUrl: string | undefined;
  let jwks: { keys: object[] } | undefined;
  if (url !== undefined) {
    let parsed: URL | undefined;
    try {
      parsed = typeof url === "string" ? new URL(url) : undefined;
    } catch {}
    if (parsed === undefined || (parsed.protocol !== "https:" && parsed.protocol !== "http:")) {
      throw new AuthFileError(`${where}.jwks_url: must be an http(s) URL`);
    }
    jwksUrl = parsed.href;
  } else {
    if (typeof file !== "string" || file === "") {
      throw new AuthFileError(`${where}.jwks_file: must be a path`);
    }
    const path = resolve(baseDir, file);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, "utf8"));
    } catch (error) {
      throw new AuthFileError(
        `${where}.jwks_file: cannot read ${path}: ${(error as Error).message}`,
      );
    }
    if (!isObject(parsed) || !Array.isArray(parsed.keys) || !parsed.keys.every(isObject)) {
      throw new AuthFileError(`${where}.jwks_file: ${path} is not a JWK set ({"keys": [...]})`);
    }
    jwks = { keys: parsed.keys };
  }
  if (typeof issuer !== "string" || issuer === "") {
    throw new AuthFileError(`${where}.issuer: required, a non-empty string`);
  }
  const audiences = typeof audience === "string" ? [audience] : audience;
  if (
    !Array.isArray(audiences) ||
    audiences.length === 0 ||
    !audiences.every((a) => typeof a === "string" && a !== "")
  ) {
    throw new AuthFileError(`${where}.audience: required, a string or a list of strings`);
  }
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    throw new AuthFileError(
      `${where}.algorithms: required, a list such as ["RS256", "ES256"] (known: ${JWT_ALGORITHMS.join(", ")})`,
    );
  }
  for (const [i, alg] of algorithms.entries()) {
    if (!(JWT_ALGORITHMS as readonly unknown[]).includes(alg)) {
      throw new AuthFileError(
        `${where}.algorithms[${i}]: ${JSON.stringify(alg)} is not one of ${JWT_ALGORITHMS.join(", ")}`,
      );
    }
  }
  const tolerance = value.clock_tolerance_s ?? DEFAULT_CLOCK_TOLERANCE_S;
  if (!Number.isInteger(tolerance) || (tolerance as number) < 0 || (tolerance as number) > 3600) {
    throw new AuthFileError(
      `${where}.clock_tolerance_s: must be a whole number of seconds, 0..3600`,
    );
  }
  return {
    ...(jwksUrl === undefined ? {} : { jwksUrl }),
    ...(jwks === undefined ? {} : { jwks }),
    issuer,
    audience: typeof audience === "string" ? audience : (audiences as string[]),
    algorithms: algorithms as string[],
    clockToleranceS: tolerance as number,
  };
}

/**
 * Validates the text of an `AUTH_FILE`. `baseDir` resolves a relative
 * `jwt.jwks_file`. Throws an AuthFileError naming the entry and field.
 */
export function parseAuthFile(text: string, baseDir: string): AuthSettings {
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (error) {
    throw new AuthFileError(`not JSON: ${(error as Error).message}`);
  }
  if (!isObject(root)) throw new AuthFileError(`must be a JSON object with "callers"`);
  checkFields(root, new Set(["callers", "jwt"]), "the file");
  const { callers: rawCallers = [], jwt } = root;
  if (!Array.isArray(rawCallers)) throw new AuthFileError("callers: must be a list");
  const callers = rawCallers.map(callerOf);
  const seen = new Map<string, string>();
  for (const [i, caller] of callers.entries()) {
    const claims: [string, string | undefined][] = [
      ["name", caller.name],
      ["api_key_sha256", caller.apiKeySha256],
      ["tls_subject", caller.tlsSubject],
    ];
    for (const [field, value] of claims) {
      if (value === undefined) continue;
      const other = seen.get(`${field}\u0000${value}`);
      if (other !== undefined) {
        throw new AuthFileError(
          `callers[${i}] ("${caller.name}").${field}: the same as ${other}'s`,
        );
      }
      seen.set(`${field}\u0000${value}`, `callers[${i}] ("${caller.name}")`);
    }
  }
  if (callers.length === 0 && jwt === undefined) {
    throw new AuthFileError("lists no callers and no jwt: nobody could call");
  }
  return { callers, ...(jwt === undefined ? {} : { jwt: jwtOf(jwt, baseDir) }) };
}

/** Reads and validates an `AUTH_FILE`; errors start with its path. */
export function loadAuthFile(path: string): AuthSettings {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new AuthFileError(`${path}: cannot read: ${(error as Error).message}`);
  }
  try {
    return parseAuthFile(text, dirname(resolve(path)));
  } catch (error) {
    throw new AuthFileError(`${path}: ${(error as Error).message}`);
  }
}
