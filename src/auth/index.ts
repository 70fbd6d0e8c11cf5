export {
  type Auth,
  type AuthOptions,
  type AuthStats,
  CALLER,
  callerOf,
  createAuth,
} from "./auth.js";
export {
  AuthFileError,
  type AuthSettings,
  type CallerEntry,
  DEFAULT_CLOCK_TOLERANCE_S,
  JWT_ALGORITHMS,
  type JwtSettings,
  loadAuthFile,
  normaliseTlsSubject,
  parseAuthFile,
} from "./auth-file.js";
export {
  type Authenticator,
  type AuthenticatorOptions,
  type Caller,
  type Credentials,
  createAuthenticator,
  DEFAULT_JWKS_CACHE_MS,
  DEFAULT_JWKS_TIMEOUT_MS,
  DEFAULT_TOKEN_CACHE_SIZE,
} from "./authenticator.js";
