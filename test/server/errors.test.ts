// biome-ignore-all lint/suspicious/noExplicitAny: JSON-RPC answers are read as untyped JSON
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_MAX_PAYLOAD_BYTES } from "../../src/defaults.js";
import {
  createGrpcJsClient,
  type GrpcJsClient,
  HUB_ID,
  postRpc,
  startHub,
  type TestHub,
  toStruct,
} from "./harness.js";

// Issue 2, acceptance 5: every JSON-RPC error of contract section 5, the same
// bad inputs over gRPC, and nothing of it in the log afterwards.
let hub: TestHub;
let grpcClient: GrpcJsClient;
beforeAll(async () => {
  hub = await startHub("sqlite");
  grpcClient = createGrpcJsClient(hub.port);
});
afterAll(async () => {
  grpcClient?.close();
  await hub?.close();
});

const rpc = (method: string, params?: unknown, id: number | string = 1) =>
  postRpc(
    hub.baseUrl,
    params === undefined ? { jsonrpc: "2.0", id, method } : { jsonrpc: "2.0", id, method, params },
  );

/** A payload whose serialisation is just over MAX_PAYLOAD_BYTES. */
const OVERSIZED = { blob: "x".repeat(DEFAULT_MAX_PAYLOAD_BYTES) };

/** Bad inputs both protocols must refuse, with the JSON-RPC param each names. */
const BAD_PUBLISHES: {
  name: string;
  params: Record<string, unknown>;
  param: string;
  reason?: RegExp;
}[] = [
  { name: "payload that is a string", params: { topic: "a.b", payload: "text" }, param: "payload" },
  { name: "payload that is an array", params: { topic: "a.b", payload: [1, 2] }, param: "payload" },
  { name: "payload that is a number", params: { topic: "a.b", payload: 5 }, param: "payload" },
  {
    name: "payload over MAX_PAYLOAD_BYTES",
    params: { topic: "a.b", payload: OVERSIZED },
    param: "payload",
    reason: /MAX_PAYLOAD_BYTES/,
  },
  {
    name: "subject of another hub",
    params: { topic: "hub.other-hub.project.created" },
    param: "topic",
    reason: /other-hub/,
  },
  { name: "* in a publish subject", params: { topic: `hub.${HUB_ID}.project.*` }, param: "topic" },
  { name: "> in a publish subject", params: { topic: "project.>" }, param: "topic" },
  { name: "empty subject", params: { topic: "" }, param: "topic" },
  { name: "subject without an action", params: { topic: `hub.${HUB_ID}.project` }, param: "topic" },
  { name: "missing topic", params: { payload: {} }, param: "topic", reason: /required/ },
  { name: "misspelt param", params: { topics: "a.b" }, param: "topics", reason: /unknown/ },
  {
    name: "correlation id over 128 characters",
    params: { topic: "a.b", correlation_id: "c".repeat(129) },
    param: "correlation_id",
  },
];

describe("JSON-RPC errors", () => {
  it.each(BAD_PUBLISHES)("bus.publish refuses a $name with -32602 naming $param", async (bad) => {
    const { status, body } = await rpc("bus.publish", bad.params, 7);
    expect(status).toBe(200);
    expect(body).toMatchObject({ jsonrpc: "2.0", id: 7, error: { code: -32602 } });
    expect(body.error.data.param).toBe(bad.param);
    expect(body.error.data.reason).toEqual(expect.any(String));
    if (bad.reason) expect(body.error.data.reason).toMatch(bad.reason);
    expect(body.result).toBeUndefined();
  });

  it("refuses positional params with -32602", async () => {
    const { body } = await rpc("bus.publish", ["a.b", {}]);
    expect(body.error).toMatchObject({ code: -32602, data: { param: "params" } });
  });

  it("refuses a bad hub-service header with -32602 naming it", async () => {
    const { body } = await postRpc(
      hub.baseUrl,
      { jsonrpc: "2.0", id: 1, method: "bus.publish", params: { topic: "a.b" } },
      { "hub-service": "not a service!" },
    );
    expect(body.error).toMatchObject({ code: -32602, data: { param: "hub-service" } });
  });

  it.each([
    { limit: 0, param: "limit" },
    { limit: 1001, param: "limit" },
    { limit: -1, param: "limit" },
    { limit: 2.5, param: "limit" },
    { limit: "10", param: "limit" },
    { subject: "hub.>.x", param: "subject" },
    { subject: "hub..x", param: "subject" },
    { subject: 42, param: "subject" },
    { subjects: ">", param: "subjects" },
  ])("bus.subscribe refuses %o with -32602", async ({ param, ...params }) => {
    const { status, body } = await rpc("bus.subscribe", params);
    expect(status).toBe(200);
    expect(body.error).toMatchObject({ code: -32602, data: { param } });
  });

  it("takes limit null as the default", async () => {
    const { body } = await rpc("bus.subscribe", { subject: ">", limit: null });
    expect(body.result).toEqual({ events: [], count: 0 });
  });

  it("refuses params on methods that take none", async () => {
    const { body } = await rpc("hub.info", { verbose: true });
    expect(body.error).toMatchObject({ code: -32602, data: { param: "verbose" } });
  });

  it("answers an unknown method with -32601 listing available_methods", async () => {
    const { status, body } = await rpc("bus.unknown", {}, "x-1");
    expect(status).toBe(200);
    expect(body).toMatchObject({ id: "x-1", error: { code: -32601 } });
    expect(body.error.message).toContain("bus.unknown");
    expect(body.error.data.available_methods).toEqual([
      "bus.publish",
      "bus.subscribe",
      "hub.info",
      "hub.health",
      "bus.publishBatch",
      "hub.list",
    ]);
  });

  it.each(["{", '{"jsonrpc":"2.0","id":1,"method":"hub.info"', "", "nul"])(
    "answers a body that is not JSON (%j) with -32700 and HTTP 200",
    async (text) => {
      const { status, body } = await postRpc(hub.baseUrl, text);
      expect(status).toBe(200);
      expect(body).toEqual({
        jsonrpc: "2.0",
        id: null,
        error: expect.objectContaining({ code: -32700 }),
      });
    },
  );

  it.each([
    ["a wrong version", { jsonrpc: "1.0", id: 1, method: "hub.info" }],
    ["no version", { id: 1, method: "hub.info" }],
    ["no method", { jsonrpc: "2.0", id: 1 }],
    ["a method that is not a string", { jsonrpc: "2.0", id: 1, method: 5 }],
    ["params that are a string", { jsonrpc: "2.0", id: 1, method: "hub.info", params: "x" }],
    ["an id that is an object", { jsonrpc: "2.0", id: {}, method: "hub.info" }],
    ["a string", "hub.info"],
    ["an empty batch", []],
  ])("answers %s with -32600", async (_name, request) => {
    const { status, body } = await postRpc(hub.baseUrl, JSON.stringify(request));
    expect(status).toBe(200);
    expect(body).toMatchObject({ jsonrpc: "2.0", id: null, error: { code: -32600 } });
  });

  it("answers a batch per request, in order, leaving out notifications", async () => {
    const { status, body } = await postRpc(hub.baseUrl, [
      { jsonrpc: "2.0", id: 1, method: "hub.info" },
      { jsonrpc: "2.0", method: "hub.info" },
      { jsonrpc: "2.0", id: 2, method: "bus.nope" },
      1,
      [{ jsonrpc: "2.0", id: 9, method: "hub.info" }],
      { jsonrpc: "2.0", id: 3, method: "bus.publish", params: { topic: "hub.other-hub.a.b" } },
    ]);
    expect(status).toBe(200);
    expect(body).toEqual([
      { jsonrpc: "2.0", id: 1, result: { hub_id: HUB_ID, version: "1.2.3", status: "running" } },
      { jsonrpc: "2.0", id: 2, error: expect.objectContaining({ code: -32601 }) },
      { jsonrpc: "2.0", id: null, error: expect.objectContaining({ code: -32600 }) },
      { jsonrpc: "2.0", id: null, error: expect.objectContaining({ code: -32600 }) },
      { jsonrpc: "2.0", id: 3, error: expect.objectContaining({ code: -32602 }) },
    ]);
  });

  it("answers notifications with nothing: HTTP 204 and no body, even when they fail", async () => {
    for (const body of [
      { jsonrpc: "2.0", method: "hub.info" },
      { jsonrpc: "2.0", method: "bus.nope" },
      { jsonrpc: "2.0", method: "bus.publish", params: { topic: "project.*" } },
      [
        { jsonrpc: "2.0", method: "hub.health" },
        { jsonrpc: "2.0", method: "bus.publish", params: { topic: 5 } },
      ],
    ]) {
      const res = await fetch(`${hub.baseUrl}/rpc`, { method: "POST", body: JSON.stringify(body) });
      expect(res.status).toBe(204);
      expect(await res.text()).toBe("");
    }
  });

  it('answers a request with "id": null (a request, not a notification; JSON-RPC 2.0 §4)', async () => {
    const info = await postRpc(hub.baseUrl, { jsonrpc: "2.0", id: null, method: "hub.info" });
    expect(info).toEqual({
      status: 200,
      body: {
        jsonrpc: "2.0",
        id: null,
        result: { hub_id: HUB_ID, version: "1.2.3", status: "running" },
      },
    });
    const batch = await postRpc(hub.baseUrl, [
      { jsonrpc: "2.0", id: null, method: "bus.nope" },
      { jsonrpc: "2.0", method: "hub.info" },
      { jsonrpc: "2.0", id: 7, method: "hub.info" },
    ]);
    expect(batch.body).toEqual([
      { jsonrpc: "2.0", id: null, error: expect.objectContaining({ code: -32601 }) },
      { jsonrpc: "2.0", id: 7, result: expect.objectContaining({ hub_id: HUB_ID }) },
    ]);
  });

  it("refuses a batch longer than its limit with -32600", async () => {
    const batch = Array.from({ length: 101 }, (_, i) => ({
      jsonrpc: "2.0",
      id: i,
      method: "hub.info",
    }));
    const { body } = await postRpc(hub.baseUrl, batch);
    expect(body).toMatchObject({ id: null, error: { code: -32600 } });
  });

  it("refuses a body over the request limit with HTTP 413 and -32600, and keeps serving", async () => {
    const huge = JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "bus.publish",
      params: { topic: "a.b", payload: { blob: "x".repeat(3 * DEFAULT_MAX_PAYLOAD_BYTES) } },
    });
    const res = await fetch(`${hub.baseUrl}/rpc`, { method: "POST", body: huge });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ id: null, error: { code: -32600 } });
    expect((await rpc("hub.info")).body.result.status).toBe("running");
  });

  it("lists the methods with their params at GET and POST /rpc/methods", async () => {
    for (const method of ["GET", "POST"]) {
      const res = await fetch(`${hub.baseUrl}/rpc/methods`, { method });
      expect(res.status).toBe(200);
      const { methods } = (await res.json()) as { methods: any[] };
      expect(methods.map((m: { name: string }) => m.name)).toEqual([
        "bus.publish",
        "bus.subscribe",
        "hub.info",
        "hub.health",
        "bus.publishBatch",
        "hub.list",
      ]);
      const publish = methods[0];
      expect(publish.params.map((p: { name: string }) => p.name)).toEqual([
        "topic",
        "payload",
        "correlation_id",
        "idempotency_key",
      ]);
      expect(publish.params[0]).toMatchObject({ name: "topic", required: true });
      expect(methods[1].params[1]).toMatchObject({ name: "limit", default: 100 });
    }
  });

  it("answers GET /rpc with 405", async () => {
    const res = await fetch(`${hub.baseUrl}/rpc`);
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
  });
});

describe("the same bad inputs over gRPC (@grpc/grpc-js)", () => {
  const grpcError = (promise: Promise<unknown>) =>
    promise.then(
      () => expect.unreachable("the call succeeded"),
      (error: grpc.ServiceError) => error,
    );

  // Proto cannot carry a misspelt field or a payload that is not an object (Struct).
  const expressible = BAD_PUBLISHES.filter(
    ({ params }) =>
      params.topics === undefined &&
      (params.payload === undefined ||
        (typeof params.payload === "object" && !Array.isArray(params.payload))),
  );

  it.each(expressible)("Publish refuses a $name with INVALID_ARGUMENT", async (bad) => {
    const p = bad.params as {
      topic?: string;
      payload?: Record<string, unknown>;
      correlation_id?: string;
    };
    const error = await grpcError(
      grpcClient.call("Publish", {
        subject: p.topic ?? "",
        payload: p.payload ? toStruct(p.payload) : undefined,
        correlation_id: p.correlation_id ?? "",
      }),
    );
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it("Publish refuses a bad hub-service metadata with INVALID_ARGUMENT", async () => {
    const error = await grpcError(
      grpcClient.call("Publish", { subject: "a.b" }, { "hub-service": "no way!" }),
    );
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toContain("service");
  });

  it("a payload that is not an object cannot be written in proto; over Connect JSON it is INVALID_ARGUMENT", async () => {
    for (const payload of ['"text"', "[1,2]", "5"]) {
      const res = await fetch(`${hub.baseUrl}/hubbus.v1.EventBusService/Publish`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: `{"subject":"a.b","payload":${payload}}`,
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe("invalid_argument");
    }
  });

  it.each([
    { limit: 1001, subject: "" },
    { limit: 5000, subject: ">" },
    { limit: 10, subject: "hub.>.x" },
    { limit: 10, subject: "hub..x" },
  ])("QueryEvents refuses %o with INVALID_ARGUMENT", async (request) => {
    const error = await grpcError(grpcClient.call("QueryEvents", request));
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it("QueryEvents takes limit 0 as the default (proto3 cannot tell 0 from unset)", async () => {
    const res = await grpcClient.call("QueryEvents", { subject: "", limit: 0 });
    expect(res.count).toBe(0);
  });
});

describe("after every refusal", () => {
  it("the log is still empty", async () => {
    expect(await hub.log.lastSequence()).toBe(0);
    expect(await hub.bus.query({ subject: ">", limit: 1000 })).toEqual([]);
    expect(hub.log.stats().appendedEvents).toBe(0);
  });
});
