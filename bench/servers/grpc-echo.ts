import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/*
 * Baseline: @grpc/grpc-js's own server answering EventBusService/Publish
 * at once: the request is decoded (Struct payload included) and a
 * PublishResponse echoes its subject. Nothing is stored or forwarded.
 */

const port = Number(process.env.PORT);
const protoRoot = join(import.meta.dirname, "../../proto");
const definition = protoLoader.loadSync(join(protoRoot, "hubbus/v1/eventbus.proto"), {
  includeDirs: [protoRoot],
  keepCase: true,
  longs: String,
  defaults: true,
  oneofs: true,
});
// proto-loader's packages are untyped objects.
const pkg = grpc.loadPackageDefinition(definition) as unknown as {
  hubbus: { v1: { EventBusService: grpc.ServiceClientConstructor } };
};

let sequence = 0;
const server = new grpc.Server();
server.addService(pkg.hubbus.v1.EventBusService.service, {
  Publish(
    call: grpc.ServerUnaryCall<{ subject: string }, unknown>,
    callback: grpc.sendUnaryData<unknown>,
  ) {
    callback(null, {
      published: true,
      subject: call.request.subject,
      correlation_id: "00000000-0000-4000-8000-000000000000",
      event_id: "00000000-0000-7000-8000-000000000000",
      sequence: String(++sequence),
    });
  },
});
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error) => {
  if (error) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`ready ${port}\n`);
});
process.once("SIGTERM", () => server.forceShutdown());
