import { type Logger, pino } from "pino";
import {
  type EventBatch,
  HubError,
  type PublishInput,
  permissionDenied,
  resolvePublishSubject,
  validatePattern,
} from "../core/index.js";
import {
  type CallContext,
  type PublishRequestInput,
  SERVICE_HEADER,
  type Stage,
  type StreamCall,
  type UnaryCall,
  type UnaryNext,
} from "../pipeline/index.js";
import { type AuthSettings, loadAuthFile } from "./auth-file.js";
import {
  type Authenticator,
  type AuthenticatorOptions,
  type Caller,
  createAuthenticator,
} from "./authenticator.js";

/** Options of {@link createAuth}. */
export interface AuthOptions extends AuthenticatorOptions {
  /** The settings in force at start (config validated them). */
  readonly settings: AuthSettings;
  /** The `AUTH_FILE` that {@link Auth.reload} re-reads; without it reload only re-applies `settings`. */
  readonly file?: string;
  /** This hub's id: publish subjects are checked as the core will store them (`hub.<id>.…`). */
  readonly hubId: string;
  /** Refused credentials and reloads. @default a silent logger */
  readonly logger?: Logger;
}

/** Counters for health, metrics and tests. */
export interface AuthStats {
  /** Calls refused as unauthenticated. */
  readonly failedAuthentications: number;
  /** Calls refused as permission_denied. */
  readonly deniedCalls: number;
  /** Successful reloads since start. */
  readonly reloads: number;
}

/** Authentication and permissions for the call pipeline, reloadable. */
export interface Auth {
  /** The pipeline stage: authenticates every call but the open ones, and checks its subjects. */
  readonly stage: Stage;
  /**
   * Re-reads the `AUTH_FILE`. A file that does not validate leaves the old
   * one in force and throws why; calls in flight keep the caller they had,
   * and live streams are checked again at their next event.
   */
  reload(): void;
  stats(): AuthStats;
}

/** The methods that need no credentials (contract §7). */
const OPEN_METHODS: ReadonlySet<string> = new Set(["GetHubInfo", "GetHealth"]);

/** The caller a stage authenticated, for later stages (metrics, traces). */
export const CALLER = Symbol("hubbus.caller");

/** The caller a stage authenticated for this call, if any. */
export function callerOf(ctx: CallContext): Caller | undefined {
  return ctx.values.get(CALLER) as Caller | undefined;
}

/** Creates the auth stage over the settings config validated. */
export function createAuth(options: AuthOptions): Auth {
  const { hubId, file } = options;
  const logger = (options.logger ?? pino({ level: "silent" })).child({ component: "auth" });
  let authenticator: Authenticator = createAuthenticator(options.settings, options);
  // Bumped by reload; a live stream compares it on each batch.
  let generation = 0;
  let failedAuthentications = 0;
  let deniedCalls = 0;
  let reloads = 0;

  function refused(ctx: CallContext, error: unknown): never {
    failedAuthentications++;
    const reason = error instanceof HubError ? error.detail.reason : "error";
    // Never the token: the log is read by more people than the file.
    logger.warn({ protocol: ctx.protocol, method: ctx.procedure, reason }, "authentication failed");
    throw error;
  }

  /** The call's caller, set on the context; a promise only while a new JWT is verified. */
  function authenticate(ctx: CallContext): Caller | Promise<Caller> {
    let found: Caller | Promise<Caller>;
    try {
      found = authenticator.authenticate({
        authorization: ctx.header("authorization"),
        tlsSubject: ctx.tlsSubject,
      });
    } catch (error) {
      refused(ctx, error);
    }
    if (found instanceof Promise) {
      return found.then(
        (caller) => adopt(ctx, caller),
        (error: unknown) => refused(ctx, error),
      );
    }
    return adopt(ctx, found);
  }

  /** Makes `caller` the call's caller, unless the call claims another service. */
  function adopt(ctx: CallContext, caller: Caller): Caller {
    const claimed = ctx.header(SERVICE_HEADER);
    if (claimed !== undefined && claimed !== "" && claimed !== caller.service) {
      throw denied(
        permissionDenied(
          SERVICE_HEADER,
          claimed,
          `caller "${caller.name}" publishes as service "${caller.service}", not "${claimed}"`,
        ),
      );
    }
    ctx.caller = caller.name;
    ctx.service = caller.service;
    ctx.values.set(CALLER, caller);
    return caller;
  }

  function denied(error: HubError): HubError {
    deniedCalls++;
    return error;
  }

  /** The subject as the core will store it, checked against the caller's publish rules. */
  function checkPublish(caller: Caller, input: PublishRequestInput, param: string): PublishInput {
    const subject = resolvePublishSubject(input?.subject, hubId, param);
    if (!caller.permissions.mayPublish(subject)) {
      throw denied(
        permissionDenied(param, subject, `caller "${caller.name}" may not publish on "${subject}"`),
      );
    }
    return subject === input.subject ? input : { ...input, subject };
  }

  function checkPattern(caller: Caller, raw: unknown): string {
    const pattern = validatePattern(raw === undefined || raw === null ? ">" : raw);
    if (!caller.permissions.maySubscribe(pattern)) {
      throw denied(
        permissionDenied(
          "subject",
          pattern,
          `caller "${caller.name}" may not subscribe to "${pattern}": no allowed pattern covers it`,
        ),
      );
    }
    return pattern;
  }

  /** The call's subjects checked against the caller's permissions, then the rest of the pipeline. */
  function checked(call: UnaryCall, caller: Caller, next: UnaryNext): Promise<unknown> {
    try {
      switch (call.method) {
        case "Publish":
          call.input = checkPublish(caller, call.input as PublishRequestInput, "subject");
          break;
        case "PublishBatch": {
          const inputs = call.input as readonly PublishRequestInput[];
          // A non-array is the core's invalid_argument; every entry is checked before any is stored.
          if (Array.isArray(inputs)) {
            call.input = inputs.map((input, i) =>
              checkPublish(caller, input, `events[${i}].subject`),
            );
          }
          break;
        }
        case "QueryEvents": {
          const input = call.input as UnaryCall<"QueryEvents">["input"];
          const subject = checkPattern(caller, input.subject);
          const { deliverable } = caller.permissions;
          call.input =
            deliverable === undefined ? { ...input, subject } : { ...input, subject, deliverable };
          break;
        }
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return next(call);
  }

  const stage: Stage = {
    name: "auth",

    unary(call: UnaryCall, next) {
      if (OPEN_METHODS.has(call.method)) return next(call);
      let found: Caller | Promise<Caller>;
      try {
        found = authenticate(call.ctx);
      } catch (error) {
        return Promise.reject(error);
      }
      // An API key, a certificate or a JWT seen before: nothing to wait for.
      if (found instanceof Promise) return found.then((caller) => checked(call, caller, next));
      return checked(call, found, next);
    },

    async *stream(call: StreamCall, next) {
      let caller = await authenticate(call.ctx);
      const subject = checkPattern(caller, call.input.subject);
      call.input = { ...call.input, subject };
      let seen = generation;
      let deliverable = caller.permissions.deliverable;
      for await (const batch of next(call)) {
        if (seen !== generation) {
          // The file changed under a live stream: the caller must still exist and still cover the pattern.
          seen = generation;
          caller = await authenticate(call.ctx);
          checkPattern(caller, subject);
          deliverable = caller.permissions.deliverable;
        }
        const keep = deliverable;
        if (keep === undefined) {
          yield batch;
          continue;
        }
        const events = batch.events.filter((event) => keep(event.subject));
        if (events.length === batch.events.length) yield batch;
        else if (events.length > 0) yield { events, shared: batch.shared } satisfies EventBatch;
      }
    },
  };

  return {
    stage,
    reload() {
      if (file === undefined) return;
      const settings = loadAuthFile(file);
      authenticator = createAuthenticator(settings, options);
      generation++;
      reloads++;
      logger.info(
        { file, callers: settings.callers.length, jwt: settings.jwt !== undefined },
        "auth file reloaded",
      );
    },
    stats: () => ({ failedAuthentications, deniedCalls, reloads }),
  };
}
