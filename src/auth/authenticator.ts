import { hash, timingSafeEqual } from "node:crypto";
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  type JWTPayload,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
} from "jose";
import { compilePermissions, HubError, type Permissions } from "../core/index.js";
import {
  AuthFileError,
  type AuthSettings,
  type CallerEntry,
  CLAIM_FIELDS,
  grantsOf,
  type JwtSettings,
} from "./auth-file.js";

/** Who is calling, as authentication decided it. */
export interface Caller {
  /** The entry's `name`, or a JWT's `sub`. */
  readonly name: string;
  /** The origin service of its events. */
  readonly service: string;
  readonly permissions: Permissions;
  /** How it proved who it is. */
  readonly via: "api_key" | "jwt" | "tls";
}

/** What a call brings to prove who it is. */
export interface Credentials {
  /** The `Authorization` header (gRPC metadata), as received. */
  readonly authorization?: string | undefined;
  /** The verified client certificate's subject under mutual TLS. */
  readonly tlsSubject?: string | undefined;
}

/** Options of {@link createAuthenticator}. */
export interface AuthenticatorOptions {
  /** How long a JWKS fetch may take. @default DEFAULT_JWKS_TIMEOUT_MS */
  readonly jwksTimeoutMs?: number;
  /** How long fetched keys are kept before they are fetched again. @default DEFAULT_JWKS_CACHE_MS */
  readonly jwksCacheMs?: number;
  /** Verified tokens kept, so a client that sends the same JWT on every call pays the signature check once. @default DEFAULT_TOKEN_CACHE_SIZE */
  readonly tokenCacheSize?: number;
}

/** @see AuthenticatorOptions.jwksTimeoutMs */
export const DEFAULT_JWKS_TIMEOUT_MS = 5_000;
/** @see AuthenticatorOptions.jwksCacheMs */
export const DEFAULT_JWKS_CACHE_MS = 10 * 60_000;
/** @see AuthenticatorOptions.tokenCacheSize */
export const DEFAULT_TOKEN_CACHE_SIZE = 1024;

/** Turns credentials into a caller, or refuses them. */
export interface Authenticator {
  /**
   * The caller, or a throw (or rejection) of `unauthenticated`. The reason
   * in the error never tells an unknown API key from a malformed one. API
   * keys, client certificates and JWTs already verified are answered at
   * once, not as a promise: a call's path saves the ticks.
   */
  authenticate(credentials: Credentials): Caller | Promise<Caller>;
}

/** Why credentials were refused; the words go to the client, so none depends on which keys exist. */
export function unauthenticated(reason: string): HubError {
  return new HubError("unauthenticated", `unauthenticated: ${reason}`, { reason });
}

const MISSING = "no credentials: send Authorization: Bearer <token>";
const INVALID = "the token is not valid";

/** `Bearer <token>`, scheme case-insensitive (RFC 6750); undefined for anything else. */
function bearerToken(header: string): string | undefined {
  const match = /^\s*bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** A JWT has three base64url parts, the first a JSON header; API keys are anything else. */
function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token) && token.startsWith("ey");
}

interface KeyedCaller {
  readonly digest: Buffer;
  readonly caller: Caller;
}

function callerOfEntry(entry: CallerEntry, via: Caller["via"]): Caller {
  return {
    name: entry.name,
    service: entry.service,
    permissions: compilePermissions({ publish: entry.publish, subscribe: entry.subscribe }),
    via,
  };
}

function jwtCaller(payload: JWTPayload): Caller {
  const { sub } = payload;
  if (typeof sub !== "string" || sub === "") throw unauthenticated("the token has no sub");
  const claim = payload.hubbus ?? {};
  if (typeof claim !== "object" || claim === null || Array.isArray(claim)) {
    throw unauthenticated('the token\'s "hubbus" claim must be an object');
  }
  try {
    for (const key of Object.keys(claim)) {
      if (!CLAIM_FIELDS.has(key)) throw new AuthFileError(`unknown field "${key}"`);
    }
    const grants = grantsOf(claim as Record<string, unknown>, sub, "hubbus");
    return {
      name: sub,
      service: grants.service,
      permissions: compilePermissions({ publish: grants.publish, subscribe: grants.subscribe }),
      via: "jwt",
    };
  } catch (error) {
    throw unauthenticated(`the token's "hubbus" claim: ${(error as Error).message}`);
  }
}

/** Words for a refused JWT that help its owner and say nothing about the gateway's keys. */
function jwtReason(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return "the token has expired";
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return `the token's ${error.claim} claim is not accepted`;
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return "the token's algorithm is not accepted";
  if (error instanceof HubError) return error.detail.reason ?? INVALID;
  return INVALID;
}

/**
 * Creates the authenticator for one version of the `AUTH_FILE`. API keys
 * are compared by SHA-256 digest against every entry with
 * `timingSafeEqual`, so the time taken does not depend on which entry (if
 * any) matched; JWTs are verified with jose against the configured keys.
 */
export function createAuthenticator(
  settings: AuthSettings,
  options: AuthenticatorOptions = {},
): Authenticator {
  const keyed: KeyedCaller[] = [];
  const byTlsSubject = new Map<string, Caller>();
  for (const entry of settings.callers) {
    if (entry.apiKeySha256 !== undefined) {
      keyed.push({
        digest: Buffer.from(entry.apiKeySha256, "hex"),
        caller: callerOfEntry(entry, "api_key"),
      });
    }
    if (entry.tlsSubject !== undefined) {
      byTlsSubject.set(entry.tlsSubject, callerOfEntry(entry, "tls"));
    }
  }
  const verifyJwt =
    settings.jwt === undefined ? undefined : createJwtVerifier(settings.jwt, options);

  function byApiKey(token: string): Caller {
    const digest = hash("sha256", token, "buffer");
    let found: Caller | undefined;
    // Every entry is compared, matched or not.
    for (const entry of keyed) {
      if (timingSafeEqual(entry.digest, digest)) found = entry.caller;
    }
    if (found === undefined) throw unauthenticated(INVALID);
    return found;
  }

  return {
    authenticate({ authorization, tlsSubject }) {
      if (authorization !== undefined && authorization !== "") {
        const token = bearerToken(authorization);
        if (token === undefined) {
          throw unauthenticated('the Authorization header must be "Bearer <token>"');
        }
        if (verifyJwt !== undefined && looksLikeJwt(token)) return verifyJwt(token);
        return byApiKey(token);
      }
      if (tlsSubject !== undefined) {
        const caller = byTlsSubject.get(tlsSubject);
        if (caller !== undefined) return caller;
        throw unauthenticated("the client certificate names no caller");
      }
      throw unauthenticated(MISSING);
    },
  };
}

function createJwtVerifier(
  jwt: JwtSettings,
  options: AuthenticatorOptions,
): (token: string) => Caller | Promise<Caller> {
  const keys: JWTVerifyGetKey =
    jwt.jwksUrl !== undefined
      ? createRemoteJWKSet(new URL(jwt.jwksUrl), {
          timeoutDuration: options.jwksTimeoutMs ?? DEFAULT_JWKS_TIMEOUT_MS,
          cacheMaxAge: options.jwksCacheMs ?? DEFAULT_JWKS_CACHE_MS,
        })
      : createLocalJWKSet(jwt.jwks as Parameters<typeof createLocalJWKSet>[0]);
  const verifyOptions = {
    issuer: jwt.issuer,
    audience: jwt.audience as string | string[],
    algorithms: [...jwt.algorithms],
    clockTolerance: jwt.clockToleranceS,
  };
  const cacheSize = options.tokenCacheSize ?? DEFAULT_TOKEN_CACHE_SIZE;
  // Insertion-ordered: the oldest entry goes first when the cache is full.
  const cache = new Map<string, { caller: Caller; expiresAt: number }>();

  const verify = async (token: string): Promise<Caller> => {
    let caller: Caller;
    let exp: number | undefined;
    try {
      const { payload } = await jwtVerify(token, keys, verifyOptions);
      caller = jwtCaller(payload);
      exp = payload.exp;
    } catch (error) {
      throw unauthenticated(jwtReason(error));
    }
    // Without `exp` a token is good until the keys change; keep it a while, not forever.
    const expiresAt = Math.min(
      exp === undefined ? Number.POSITIVE_INFINITY : exp * 1000 + jwt.clockToleranceS * 1000,
      Date.now() + 60_000,
    );
    if (cache.size >= cacheSize) cache.delete(cache.keys().next().value as string);
    cache.set(token, { caller, expiresAt });
    return caller;
  };
  return (token) => {
    const cached = cache.get(token);
    if (cached !== undefined) {
      if (Date.now() < cached.expiresAt) return cached.caller;
      cache.delete(token);
    }
    return verify(token);
  };
}
