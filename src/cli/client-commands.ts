import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import { type Command, Option } from "commander";
import type { ClientConfig } from "../config/index.js";
import { describeClientError, eventJson, eventLine, gatewayClient } from "./client.js";

/** A command line that cannot be run as given (bad JSON, a bad number); exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

type Opts = Record<string, unknown>;

function write(line: string): void {
  process.stdout.write(`${line}\n`);
}

function parseWholeNumber(name: string, raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== "string" || !/^\d+$/.test(raw))
    throw new UsageError(`${name} must be a whole number, got "${raw}"`);
  return Number(raw);
}

/** Runs a client call; a failure becomes one line on stderr and exit code 1. */
async function call(config: ClientConfig, run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof UsageError) throw error;
    process.stderr.write(`hubbus: ${describeClientError(error, config.url)}\n`);
    return 1;
  }
}

/**
 * `pub`, `sub`, `events` and `health`: a client of a running gateway over
 * gRPC, for scripts and people at a terminal.
 */
export function addClientCommands(
  program: Command,
  clientConfig: (opts: Opts) => ClientConfig,
): void {
  // Every command that talks to a gateway takes the same three.
  const gateway = (command: Command) =>
    command
      .addOption(
        new Option(
          "--url <url>",
          "gateway URL, http:// or https:// (env HUBBUS_URL, default http://127.0.0.1:9001)",
        ),
      )
      .addOption(
        new Option("--token <token>", "sent as Authorization: Bearer <token> (env HUBBUS_TOKEN)"),
      )
      .addOption(
        new Option("--ca <file>", "PEM CA to trust for an https:// gateway (env HUBBUS_CA_FILE)"),
      );
  const setExit = (code: number) => program.setOptionValue("exitCode", code);

  gateway(program.command("pub"))
    .description("publish an event: hubbus pub project.created '{\"id\":1}'")
    .argument("<subject>", "subject; without hub. it gets hub.<HUB_ID>. in front")
    .argument("[payload]", "a JSON object", "{}")
    .option("--correlation-id <id>", "correlation id (default: generated)")
    .option(
      "--idempotency-key <key>",
      "1..128 characters: a repeat answers the first publish's result with duplicate: true",
    )
    .action(async (subject: string, payloadText: string, opts: Opts) => {
      let payload: unknown;
      try {
        payload = JSON.parse(payloadText);
      } catch (error) {
        throw new UsageError(`payload is not JSON: ${(error as Error).message}`);
      }
      if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
        throw new UsageError("payload must be a JSON object");
      }
      const config = clientConfig(opts);
      setExit(
        await call(config, async () => {
          const r = await gatewayClient(config).publish({
            subject,
            payload: payload as Record<string, never>,
            correlationId: typeof opts.correlationId === "string" ? opts.correlationId : "",
            idempotencyKey: typeof opts.idempotencyKey === "string" ? opts.idempotencyKey : "",
          });
          write(
            JSON.stringify({
              published: r.published,
              subject: r.subject,
              correlation_id: r.correlationId,
              event_id: r.eventId,
              sequence: Number(r.sequence),
              ...(r.duplicate ? { duplicate: true } : {}),
            }),
          );
          return 0;
        }),
      );
    });

  gateway(program.command("sub"))
    .description("stream events as they come; resume with --after <last sequence seen>")
    .argument("[pattern]", "subject pattern (* one token, > the rest)", ">")
    .option("--after <sequence>", "first replay every stored event after this sequence")
    .option("--json", "one JSON object per line")
    .action(async (pattern: string, opts: Opts) => {
      const after = parseWholeNumber("--after", opts.after);
      const config = clientConfig(opts);
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      setExit(
        await call(config, async () => {
          try {
            const stream = gatewayClient(config).subscribe(
              {
                subject: pattern,
                ...(after === undefined ? {} : { afterSequence: BigInt(after) }),
              },
              { signal: controller.signal },
            );
            for await (const { event } of stream) {
              if (event) write(opts.json ? JSON.stringify(eventJson(event)) : eventLine(event));
            }
            process.stderr.write("hubbus: the gateway ended the stream\n");
            return 1;
          } catch (error) {
            if (controller.signal.aborted) return 0;
            throw error;
          } finally {
            process.off("SIGINT", stop);
            process.off("SIGTERM", stop);
          }
        }),
      );
    });

  gateway(program.command("events"))
    .description("list stored events, newest first")
    .argument("[pattern]", "subject pattern", ">")
    .option("--limit <n>", "how many (1..1000)", "100")
    .option("--json", "one JSON object per line")
    .action(async (pattern: string, opts: Opts) => {
      const limit = parseWholeNumber("--limit", opts.limit) ?? 100;
      const config = clientConfig(opts);
      setExit(
        await call(config, async () => {
          const { events } = await gatewayClient(config).queryEvents({ subject: pattern, limit });
          for (const event of events)
            write(opts.json ? JSON.stringify(eventJson(event)) : eventLine(event));
          return 0;
        }),
      );
    });

  gateway(program.command("health"))
    .description("print the gateway's health; exit code 0 only when healthy")
    .action(async (opts: Opts) => {
      const config = clientConfig(opts);
      setExit(
        await call(config, async () => {
          const health = await gatewayClient(config).getHealth({});
          write(JSON.stringify({ status: health.status, services: health.services }));
          return health.status === "healthy" ? 0 : 1;
        }),
      );
    });

  gateway(program.command("hubs"))
    .description("list the hubs on the gateway's NATS (ListHubs), this one included")
    .option("--json", "one JSON object per line, as hub.list's hubs")
    .action(async (opts: Opts) => {
      const config = clientConfig(opts);
      setExit(
        await call(config, async () => {
          const { hubs } = await gatewayClient(config).listHubs({});
          for (const hub of hubs) {
            const json = {
              hub_id: hub.hubId,
              version: hub.version,
              url: hub.url,
              status: hub.status,
              last_seen: isoOf(hub.lastSeen),
              started_at: isoOf(hub.startedAt),
              instances: hub.instances,
            };
            write(
              opts.json
                ? JSON.stringify(json)
                : [
                    json.hub_id,
                    json.status,
                    `instances=${json.instances}`,
                    json.version,
                    json.url,
                    `last_seen=${json.last_seen}`,
                  ]
                    .filter((part) => part !== "")
                    .join(" "),
            );
          }
          return 0;
        }),
      );
    });
}

/** A proto Timestamp as RFC 3339 UTC; "" when absent. */
function isoOf(timestamp: Timestamp | undefined): string {
  return timestamp === undefined ? "" : timestampDate(timestamp).toISOString();
}
