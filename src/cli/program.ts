import { Command, CommanderError, Option } from "commander";
import { type Logger, pino } from "pino";
import {
  ConfigError,
  type ConfigSource,
  type HubConfig,
  loadClientConfig,
  loadConfig,
} from "../config/index.js";
import { HubError } from "../core/index.js";
import { redact } from "../database-url.js";
import { createHub, TlsFileError, type TlsFileOption } from "../hub.js";
import { migrateEventLog, openEventLog, type RetentionOptions } from "../store/index.js";
import { VERSION } from "../version.js";
import { addClientCommands, UsageError } from "./client-commands.js";

/** Flags shared by the commands that open the log; each overrides its environment variable. */
const CONFIG_FLAGS: readonly [flag: string, variable: string, description: string][] = [
  ["--hub-id <id>", "HUB_ID", "this hub's id (env HUB_ID, default local-hub)"],
  ["--port <port>", "PORT", "port for every protocol (env PORT, default 9001)"],
  ["--host <address>", "HOST", "address to listen on (env HOST, default 127.0.0.1)"],
  [
    "--database-url <url>",
    "DATABASE_URL",
    "sqlite:<path> or postgres://… (env DATABASE_URL, default sqlite:./data/hub.db)",
  ],
  [
    "--nats-url <urls>",
    "NATS_URL",
    "NATS servers, comma-separated (env NATS_URL, default: in-process bus)",
  ],
  [
    "--log-level <level>",
    "LOG_LEVEL",
    "fatal|error|warn|info|debug|trace|silent (env LOG_LEVEL, default info)",
  ],
  [
    "--tls-cert-file <path>",
    "TLS_CERT_FILE",
    "PEM certificate (chain): serve TLS only, with --tls-key-file (env TLS_CERT_FILE)",
  ],
  [
    "--tls-key-file <path>",
    "TLS_KEY_FILE",
    "PEM private key of the certificate (env TLS_KEY_FILE)",
  ],
  [
    "--tls-client-ca-file <path>",
    "TLS_CLIENT_CA_FILE",
    "PEM CA: require client certificates it signed (env TLS_CLIENT_CA_FILE)",
  ],
];

/** The variable that names each certificate file, for errors about a file. */
const TLS_VARIABLES: Readonly<Record<TlsFileOption, string>> = {
  certFile: "TLS_CERT_FILE",
  keyFile: "TLS_KEY_FILE",
  clientCaFile: "TLS_CLIENT_CA_FILE",
};

function flagsToSource(opts: Record<string, unknown>): ConfigSource {
  const source: Record<string, string> = {};
  for (const [flag, variable] of CONFIG_FLAGS) {
    const key = (flag.split(" ")[0] as string)
      .slice(2)
      .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const value = opts[key];
    if (typeof value === "string") source[variable] = value;
  }
  return source;
}

function addConfigFlags(command: Command, only?: readonly string[]): Command {
  for (const [flag, variable, description] of CONFIG_FLAGS) {
    if (!only || only.includes(variable)) command.addOption(new Option(flag, description));
  }
  return command;
}

function createLogger(config: HubConfig): Logger {
  return pino({ level: config.logLevel, base: { hub: config.hubId } });
}

/** Waits for SIGINT or SIGTERM; a second signal while stopping exits at once. */
function untilSignal(logger: Logger): Promise<string> {
  return new Promise((resolve) => {
    const onSignal = (signal: string) => {
      process.once(signal, () => {
        logger.warn({ signal }, "second signal: exiting now");
        process.exit(130);
      });
      resolve(signal);
    };
    process.once("SIGINT", () => onSignal("SIGINT"));
    process.once("SIGTERM", () => onSignal("SIGTERM"));
  });
}

async function serve(config: HubConfig): Promise<number> {
  const logger = createLogger(config);
  const where =
    config.database.kind === "sqlite"
      ? `sqlite:${config.database.path}`
      : redact(config.databaseUrl);
  const hub = await createHub({
    hubId: config.hubId,
    databaseUrl: config.databaseUrl,
    natsServers: config.natsServers,
    ...(config.natsCreds === undefined ? {} : { natsCreds: config.natsCreds }),
    ...(config.natsJsDomain === undefined ? {} : { natsJsDomain: config.natsJsDomain }),
    ingestSubjects: config.ingestSubjects,
    maxPayloadBytes: config.maxPayloadBytes,
    port: config.port,
    host: config.host,
    shutdownGraceMs: config.shutdownGraceMs,
    limits: {
      maxStreamsPerConnection: config.maxStreamsPerConnection,
      maxHeaderBytes: config.maxHeaderBytes,
      requestBodyTimeoutMs: config.requestBodyTimeoutMs,
    },
    ...(config.tls === undefined ? {} : { tls: config.tls }),
    metrics: config.metrics,
    ...(config.auth === undefined ? {} : { auth: config.auth }),
    retention: retentionOf(config),
    ...(config.tracing === undefined ? {} : { tracing: config.tracing }),
    federation: config.federation && {
      publicUrl: config.publicUrl,
      presenceIntervalMs: config.presenceIntervalMs,
      presenceTimeoutMs: config.presenceTimeoutMs,
      goneRetentionMs: config.presenceGoneRetentionMs,
      metricsIntervalMs: config.federationMetricsIntervalMs,
    },
    logger,
  });
  // AUTH_FILE and certificates are re-read in place; connections stay up.
  const onHangUp = () => {
    logger.info({ signal: "SIGHUP" }, "reloading");
    // reload() logs each failure itself, and the hub keeps serving with what it had.
    hub.reload().catch(() => {});
  };
  process.on("SIGHUP", onHangUp);
  const tls =
    config.tls === undefined ? "off" : config.tls.clientCaFile === undefined ? "on" : "mutual";
  logger.info(
    {
      port: hub.port,
      host: config.host,
      database: where,
      nats: config.natsServers.length > 0 ? config.natsServers : "in-process bus",
      tls,
      version: VERSION,
    },
    `hubbus ${VERSION} serving hub "${config.hubId}" on ${config.host}:${hub.port}${tls === "off" ? "" : " over TLS"} (gRPC, Connect, gRPC-Web, JSON-RPC at /rpc)`,
  );
  const signal = await untilSignal(logger);
  process.off("SIGHUP", onHangUp);
  logger.info({ signal }, "shutting down");
  await hub.close();
  logger.info("stopped");
  return 0;
}

/** RETENTION_MAX_AGE, RETENTION_MAX_EVENTS and IDEMPOTENCY_WINDOW as the pruner takes them. */
function retentionOf(config: HubConfig): RetentionOptions {
  return {
    idempotencyWindowMs: config.idempotencyWindowMs,
    ...(config.retentionMaxAgeMs === undefined ? {} : { maxAgeMs: config.retentionMaxAgeMs }),
    ...(config.retentionMaxEvents === undefined ? {} : { maxEvents: config.retentionMaxEvents }),
  };
}

/** `hubbus prune [--dry-run]`: one pruning pass, or what it would do. */
async function prune(config: HubConfig, dryRun: boolean): Promise<number> {
  const logger = createLogger(config);
  const log = await openEventLog({ url: config.databaseUrl, logger });
  try {
    const retention = retentionOf(config);
    const report = await log.prune({ ...retention, dryRun });
    if (!report.leaseHeld) {
      process.stdout.write(
        "another hubbus instance holds the pruning lease (it prunes the log itself); nothing done\n",
      );
      return 1;
    }
    const rules = [
      retention.maxAgeMs === undefined
        ? undefined
        : `RETENTION_MAX_AGE=${config.retentionMaxAgeMs}ms`,
      retention.maxEvents === undefined ? undefined : `RETENTION_MAX_EVENTS=${retention.maxEvents}`,
    ].filter((r) => r !== undefined);
    const verb = dryRun ? "would prune" : "pruned";
    const range =
      report.fromSequence === undefined
        ? ""
        : ` (sequences ${report.fromSequence}..${report.throughSequence})`;
    const lines = [
      rules.length === 0
        ? "no retention set (RETENTION_MAX_AGE, RETENTION_MAX_EVENTS): events are kept forever"
        : `${verb} ${report.events} event(s)${range} by ${rules.join(", ")}`,
      `${dryRun ? "would forget" : "forgot"} ${report.keys} idempotency key(s) older than IDEMPOTENCY_WINDOW=${config.idempotencyWindowMs}ms`,
    ];
    if (report.heldForOutbox)
      lines.push("some due events are kept until they are forwarded to NATS");
    const [first, last] = await Promise.all([log.firstSequence(), log.lastSequence()]);
    lines.push(`the log holds sequences ${first}..${last}`);
    process.stdout.write(`${lines.join("\n")}\n`);
    return 0;
  } finally {
    await log.close();
  }
}

async function migrate(config: HubConfig): Promise<number> {
  const logger = createLogger(config);
  const applied = await migrateEventLog({ url: config.databaseUrl, logger });
  const where =
    config.database.kind === "sqlite" ? config.database.path : redact(config.databaseUrl);
  process.stdout.write(
    applied.length === 0
      ? `${where}: schema is current\n`
      : `${where}: applied ${applied.length} migration(s): ${applied.join(", ")}\n`,
  );
  return 0;
}

/** Turns an error into the one line a user reads, and an exit code. */
function report(error: unknown): number {
  if (error instanceof ConfigError) {
    process.stderr.write(`hubbus: invalid configuration: ${error.message}\n`);
    return 2;
  }
  if (error instanceof TlsFileError) {
    process.stderr.write(
      `hubbus: invalid configuration: ${TLS_VARIABLES[error.option]}: ${error.path}: ${error.reason}\n`,
    );
    return 2;
  }
  if (error instanceof UsageError) {
    process.stderr.write(`hubbus: ${error.message}\n`);
    return 2;
  }
  if (error instanceof HubError) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
    process.stderr.write(`hubbus: ${error.message}${cause}\n`);
    return 1;
  }
  const e = error as NodeJS.ErrnoException;
  if (e?.code === "EADDRINUSE" || e?.code === "EACCES") {
    process.stderr.write(`hubbus: cannot listen: ${e.message} (set PORT or --port)\n`);
    return 1;
  }
  process.stderr.write(`hubbus: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  return 1;
}

/** Builds the `hubbus` command line. */
export function createProgram(env: ConfigSource = process.env): Command {
  const program = new Command("hubbus")
    .description(
      "Event-bus gateway: publish, keep and stream events over gRPC, Connect, gRPC-Web and JSON-RPC",
    )
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();

  addConfigFlags(
    program.command("serve").description("run the gateway (applies pending migrations first)"),
  ).action(async (opts: Record<string, unknown>) => {
    program.setOptionValue("exitCode", await serve(loadConfig(env, flagsToSource(opts))));
  });

  addConfigFlags(
    program.command("migrate").description("apply pending database migrations and exit"),
    ["DATABASE_URL", "LOG_LEVEL"],
  ).action(async (opts: Record<string, unknown>) => {
    program.setOptionValue("exitCode", await migrate(loadConfig(env, flagsToSource(opts))));
  });

  addConfigFlags(
    program
      .command("prune")
      .description(
        "prune the log once by RETENTION_MAX_AGE / RETENTION_MAX_EVENTS and forget idempotency keys older than IDEMPOTENCY_WINDOW",
      )
      .option("--dry-run", "only say what would be pruned"),
    ["DATABASE_URL", "LOG_LEVEL"],
  ).action(async (opts: Record<string, unknown>) => {
    program.setOptionValue(
      "exitCode",
      await prune(loadConfig(env, flagsToSource(opts)), opts.dryRun === true),
    );
  });

  addClientCommands(program, (opts) => {
    const flags: Record<string, string> = {};
    if (typeof opts.url === "string") flags.HUBBUS_URL = opts.url;
    if (typeof opts.token === "string") flags.HUBBUS_TOKEN = opts.token;
    if (typeof opts.ca === "string") flags.HUBBUS_CA_FILE = opts.ca;
    return loadClientConfig(env, flags);
  });

  return program;
}

/** Runs the CLI and returns the process exit code. */
export async function runCli(
  argv: readonly string[],
  env: ConfigSource = process.env,
): Promise<number> {
  const program = createProgram(env);
  try {
    await program.parseAsync(argv as string[]);
    return (program.getOptionValue("exitCode") as number | undefined) ?? 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    return report(error);
  }
}
