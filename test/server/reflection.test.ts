// biome-ignore-all lint/suspicious/noExplicitAny: grpc-js messages are untyped
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HubError } from "../../src/core/index.js";
import type { Stage } from "../../src/pipeline/index.js";
import { startHub, type TestHub } from "./harness.js";

const ROOT = join(import.meta.dirname, "../..");
const BUF = join(ROOT, "node_modules/.bin/buf");
const run = promisify(execFile);

const SERVICES = [
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
  "hubbus.v1.EventBusService",
];
const VERSIONS = ["v1", "v1alpha"] as const;

/** Publishes and reads need a caller; reflection and health must answer without one. */
const refuseWrites: Stage = {
  name: "refuse-writes",
  unary: async (call, next) => {
    if (call.method === "GetHubInfo") return next(call);
    throw new HubError("unauthenticated", "no credentials");
  },
};

let hub: TestHub;
beforeAll(async () => {
  hub = await startHub("sqlite", { server: { stages: [refuseWrites] } });
});
afterAll(async () => {
  await hub?.close();
});

/** `buf curl` with gRPC over h2c and no schema: everything it knows comes from reflection. */
async function bufCurl(args: string[]): Promise<string> {
  const { stdout } = await run(
    BUF,
    ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args],
    { cwd: ROOT, timeout: 20_000 },
  );
  return stdout;
}

describe("buf curl without a schema", () => {
  it.each(VERSIONS)("calls GetHubInfo, listing services and methods (reflection %s)", async (v) => {
    const reflect = ["--reflect-protocol", `grpc-${v}`];
    const info = JSON.parse(
      await bufCurl([...reflect, `${hub.baseUrl}/hubbus.v1.EventBusService/GetHubInfo`]),
    );
    expect(info).toEqual({ hubId: "test-hub", version: "1.2.3", status: "running" });

    const services = (await bufCurl([...reflect, "--list-services", hub.baseUrl])).split("\n");
    expect(services.filter(Boolean)).toEqual(SERVICES);

    const methods = (await bufCurl([...reflect, "--list-methods", hub.baseUrl])).split("\n");
    expect(methods).toEqual(
      expect.arrayContaining([
        "hubbus.v1.EventBusService/Publish",
        "hubbus.v1.EventBusService/PublishBatch",
        "hubbus.v1.EventBusService/QueryEvents",
        "hubbus.v1.EventBusService/Subscribe",
        "hubbus.v1.EventBusService/GetHubInfo",
        "hubbus.v1.EventBusService/GetHealth",
        "grpc.health.v1.Health/Check",
        "grpc.health.v1.Health/Watch",
        `grpc.reflection.${v}.ServerReflection/ServerReflectionInfo`,
      ]),
    );
  });

  it("encodes a request with the imported well-known types (Struct) it got by reflection", async () => {
    // The refusal proves the request was encoded and reached the pipeline.
    const failed = bufCurl([
      "-d",
      '{"subject": "project.created", "payload": {"n": 1, "tags": ["a"]}}',
      `${hub.baseUrl}/hubbus.v1.EventBusService/Publish`,
    ]);
    await expect(failed).rejects.toMatchObject({
      stderr: expect.stringMatching(/unauthenticated/),
    });
    const health = JSON.parse(
      await bufCurl(["-d", '{"service": ""}', `${hub.baseUrl}/grpc.health.v1.Health/Check`]),
    );
    expect(health).toEqual({ status: "SERVING" });
  });
});

/** A grpc-js client of ServerReflectionInfo: one bidi stream, one answer per question. */
function reflectionStream(version: (typeof VERSIONS)[number]) {
  const definition = protoLoader.loadSync(
    join(ROOT, `proto/grpc/reflection/${version}/reflection.proto`),
    { keepCase: true, oneofs: true, defaults: true },
  );
  const pkg = grpc.loadPackageDefinition(definition) as any;
  const client = new pkg.grpc.reflection[version].ServerReflection(
    `127.0.0.1:${hub.port}`,
    grpc.credentials.createInsecure(),
  ) as any;
  const call: grpc.ClientDuplexStream<any, any> = client.ServerReflectionInfo();
  const answers: ((answer: any) => void)[] = [];
  call.on("data", (answer: any) => answers.shift()?.(answer));
  call.on("error", () => {});
  return {
    ask(request: object): Promise<any> {
      const answered = new Promise<any>((resolve) => answers.push(resolve));
      call.write({ host: "reflection-test", ...request });
      return answered;
    },
    close() {
      call.end();
      client.close();
    },
  };
}

/** The names of the files in a file_descriptor_response, in order. */
function fileNames(answer: any): string[] {
  expect(answer.message_response).toBe("file_descriptor_response");
  return answer.file_descriptor_response.file_descriptor_proto.map(
    (bytes: Buffer) => fromBinary(FileDescriptorProtoSchema, bytes).name,
  );
}

describe.each(VERSIONS)("ServerReflectionInfo %s over grpc-js", (version) => {
  it("lists the services and sends each file with its imports, each import once per stream", async () => {
    const stream = reflectionStream(version);
    try {
      const listed = await stream.ask({ list_services: "" });
      expect(listed.valid_host).toBe("reflection-test");
      expect(listed.original_request.list_services).toBe("");
      expect(listed.list_services_response.service.map((s: any) => s.name)).toEqual(SERVICES);

      expect(
        fileNames(await stream.ask({ file_containing_symbol: "hubbus.v1.EventBusService" })),
      ).toEqual([
        "hubbus/v1/eventbus.proto",
        "google/protobuf/struct.proto",
        "google/protobuf/timestamp.proto",
      ]);
      // Already sent on this stream: only the file asked for comes again.
      expect(fileNames(await stream.ask({ file_containing_symbol: "hubbus.v1.Event" }))).toEqual([
        "hubbus/v1/eventbus.proto",
      ]);
      expect(
        fileNames(
          await stream.ask({ file_containing_symbol: "hubbus.v1.EventBusService.Publish" }),
        ),
      ).toEqual(["hubbus/v1/eventbus.proto"]);
      expect(
        fileNames(
          await stream.ask({
            file_containing_symbol: "grpc.health.v1.HealthCheckResponse.SERVING",
          }),
        ),
      ).toEqual(["grpc/health/v1/health.proto"]);
      expect(
        fileNames(await stream.ask({ file_by_filename: "google/protobuf/struct.proto" })),
      ).toEqual(["google/protobuf/struct.proto"]);
      expect(
        fileNames(
          await stream.ask({ file_by_filename: `grpc/reflection/${version}/reflection.proto` }),
        ),
      ).toEqual([`grpc/reflection/${version}/reflection.proto`]);

      // The descriptors are whole: a client can find the methods and their types in them.
      const [eventbus] = (
        await stream.ask({ file_by_filename: "hubbus/v1/eventbus.proto" })
      ).file_descriptor_response.file_descriptor_proto.map((bytes: Buffer) =>
        fromBinary(FileDescriptorProtoSchema, bytes),
      );
      const service = eventbus.service.find((s: any) => s.name === "EventBusService");
      expect(service.method.find((m: any) => m.name === "Subscribe")).toMatchObject({
        inputType: ".hubbus.v1.SubscribeRequest",
        outputType: ".hubbus.v1.SubscribeResponse",
        serverStreaming: true,
      });
    } finally {
      stream.close();
    }
  });

  it("answers not_found error responses where there is nothing, and keeps the stream", async () => {
    const stream = reflectionStream(version);
    try {
      const questions = [
        { file_containing_symbol: "hubbus.v1.Nope" },
        { file_by_filename: "nope.proto" },
        {
          file_containing_extension: { containing_type: "hubbus.v1.Event", extension_number: 100 },
        },
        { all_extension_numbers_of_type: "hubbus.v1.Event" },
        { all_extension_numbers_of_type: "hubbus.v1.Nope" },
      ];
      for (const question of questions) {
        const answer = await stream.ask(question);
        expect(answer.message_response).toBe("error_response");
        expect(answer.error_response.error_code).toBe(grpc.status.NOT_FOUND);
        expect(answer.error_response.error_message).not.toBe("");
      }
      const listed = await stream.ask({ list_services: "" });
      expect(listed.list_services_response.service).toHaveLength(SERVICES.length);
    } finally {
      stream.close();
    }
  });
});

describe("the vendored gRPC protos", () => {
  it.each([
    ["grpc/health/v1/health.proto", "grpc-health-check/proto/health/v1/health.proto"],
    [
      "grpc/reflection/v1/reflection.proto",
      "@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto",
    ],
    [
      "grpc/reflection/v1alpha/reflection.proto",
      "@grpc/reflection/build/proto/grpc/reflection/v1alpha/reflection.proto",
    ],
  ])("proto/%s equals the copy in node_modules/%s", (ours, theirs) => {
    expect(readFileSync(join(ROOT, "proto", ours), "utf8")).toBe(
      readFileSync(join(ROOT, "node_modules", theirs), "utf8"),
    );
  });
});
