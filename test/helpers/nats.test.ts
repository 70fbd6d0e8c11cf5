import { existsSync } from "node:fs";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterEach, describe, expect, inject, it } from "vitest";
import { type NatsServerHandle, startNatsServer } from "./nats.js";

// Later suites kill NATS mid-run and bring it back; they rely on exactly this.
describe("throwaway nats-server helper", () => {
  let server: NatsServerHandle | undefined;
  afterEach(async () => {
    await server?.dispose();
    server = undefined;
  });

  it("the global setup provides a server that answers", async () => {
    const url = inject("natsUrl");
    expect(url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    const nc = await connect({ servers: url });
    await nc.flush();
    await nc.close();
  });

  it.each(["SIGKILL", "SIGTERM"] as const)(
    "restarts after %s on the same port with the same JetStream store",
    async (signal) => {
      server = await startNatsServer();
      const { url, port, storeDir } = server;
      let nc = await connect({ servers: url });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "HELPER", subjects: ["helper.>"] });
      const ack = await jetstream(nc).publish("helper.one", "kept");
      expect(ack.seq).toBe(1);
      await nc.close();

      await server.stop({ signal });
      expect(server.running).toBe(false);
      await expect(connect({ servers: url, reconnect: false })).rejects.toThrow();

      await server.restart();
      expect(server.running).toBe(true);
      expect(server.url).toBe(url);
      expect(server.port).toBe(port);
      expect(server.storeDir).toBe(storeDir);
      nc = await connect({ servers: url });
      const info = await (await jetstreamManager(nc)).streams.info("HELPER");
      expect(info.state.messages).toBe(1);
      await nc.close();
    },
  );

  it("dispose removes the store directory", async () => {
    server = await startNatsServer();
    const dir = server.storeDir;
    expect(dir && existsSync(dir)).toBe(true);
    await server.dispose();
    expect(existsSync(dir as string)).toBe(false);
  });

  it("fails loudly, with the server's log, when nats-server cannot start", async () => {
    await expect(startNatsServer({ args: ["--no-such-flag"] })).rejects.toThrow(/nats-server/);
  });
});
