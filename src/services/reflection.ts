import {
  create,
  createFileRegistry,
  type DescFile,
  type DescService,
  type FileRegistry,
  fromBinary,
  type MessageInitShape,
  toBinary,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

type Answer = MessageInitShape<typeof v1.ServerReflectionResponseSchema>;
/** What every answer repeats of its question. */
interface Reply {
  readonly validHost: string;
  readonly originalRequest: v1.ServerReflectionRequest;
}

/**
 * gRPC server reflection, `grpc.reflection.v1.ServerReflection` and the
 * older `grpc.reflection.v1alpha.ServerReflection` that some clients still
 * ask first, for connect-node, so grpcurl and `buf curl` need no schema.
 *
 * It reflects every service registered on the router, itself included:
 * register it after the others. The schema comes from the generated code's
 * embedded file descriptors (`gen/`), with their imports, so what it
 * describes is exactly what the server decodes. Like grpc-go, each file goes
 * out once per stream, except the one asked for, which always does.
 *
 * Not in the call pipeline: the schema is public (it is in `proto/`), and
 * tools ask for it before they know which credentials a call needs.
 */
export function createReflectionRoutes(): (router: ConnectRouter) => void {
  return (router) => {
    let schema: Schema | undefined;
    // Built at the first request, when the router holds every service.
    const schemaNow = () => {
      schema ??= createSchema([...new Set(router.handlers.map((h) => h.service))]);
      return schema;
    };

    router.service(v1.ServerReflection, {
      async *serverReflectionInfo(requests) {
        const sent = new Set<string>();
        for await (const request of requests) yield answer(schemaNow(), request, sent);
      },
    });

    // v1alpha is v1 under another package, field for field: one implementation, converted on the wire.
    router.service(v1alpha.ServerReflection, {
      async *serverReflectionInfo(requests) {
        const sent = new Set<string>();
        for await (const alpha of requests) {
          const request = fromBinary(
            v1.ServerReflectionRequestSchema,
            toBinary(v1alpha.ServerReflectionRequestSchema, alpha),
          );
          const response = create(
            v1.ServerReflectionResponseSchema,
            answer(schemaNow(), request, sent),
          );
          yield fromBinary(
            v1alpha.ServerReflectionResponseSchema,
            toBinary(v1.ServerReflectionResponseSchema, response),
          );
        }
      },
    });
  };
}

/** What reflection describes: the services, and the files that define them with every import. */
interface Schema {
  readonly services: readonly string[];
  readonly registry: FileRegistry;
  /**
   * Every fully qualified name the files declare → its file: types, and what
   * is declared inside them (fields, oneofs, methods, enum values, which
   * protobuf scopes beside their enum), as grpcurl may ask for any of them.
   */
  readonly symbols: Map<string, DescFile>;
  /** Serialized FileDescriptorProtos by file name, made once. */
  readonly encoded: Map<string, Uint8Array>;
}

function createSchema(services: readonly DescService[]): Schema {
  // Imports before importers, as a FileDescriptorSet must list them.
  const ordered: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (file: DescFile) => {
    if (seen.has(file.proto.name)) return;
    seen.add(file.proto.name);
    for (const dependency of file.dependencies) visit(dependency);
    ordered.push(file);
  };
  for (const service of services) visit(service.file);
  const registry = createFileRegistry(
    create(FileDescriptorSetSchema, { file: ordered.map((file) => file.proto) }),
  );
  const symbols = new Map<string, DescFile>();
  for (const desc of registry) {
    symbols.set(desc.typeName, desc.file);
    if (desc.kind === "message") {
      for (const field of desc.fields) symbols.set(`${desc.typeName}.${field.name}`, desc.file);
      for (const oneof of desc.oneofs) symbols.set(`${desc.typeName}.${oneof.name}`, desc.file);
    } else if (desc.kind === "service") {
      for (const method of desc.methods) symbols.set(`${desc.typeName}.${method.name}`, desc.file);
    } else if (desc.kind === "enum") {
      const scope = desc.typeName.slice(0, desc.typeName.lastIndexOf(".") + 1);
      for (const value of desc.values) symbols.set(`${scope}${value.name}`, desc.file);
    }
  }
  return {
    services: services.map((service) => service.typeName).sort(),
    registry,
    symbols,
    encoded: new Map(),
  };
}

function answer(schema: Schema, request: v1.ServerReflectionRequest, sent: Set<string>): Answer {
  const reply: Reply = { validHost: request.host, originalRequest: request };
  const { registry } = schema;
  const message = request.messageRequest;
  switch (message.case) {
    case "listServices":
      return {
        ...reply,
        messageResponse: {
          case: "listServicesResponse",
          value: { service: schema.services.map((name) => ({ name })) },
        },
      };
    case "fileByFilename": {
      const file = registry.getFile(message.value);
      if (file === undefined) return notFound(reply, `file "${message.value}" not found`);
      return files(reply, schema, file, sent);
    }
    case "fileContainingSymbol": {
      const file = schema.symbols.get(message.value.replace(/^\./, ""));
      if (file === undefined) return notFound(reply, `symbol "${message.value}" not found`);
      return files(reply, schema, file, sent);
    }
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = message.value;
      const extendee = registry.getMessage(containingType);
      const extension =
        extendee === undefined ? undefined : registry.getExtensionFor(extendee, extensionNumber);
      if (extension === undefined) {
        return notFound(reply, `extension ${extensionNumber} of "${containingType}" not found`);
      }
      return files(reply, schema, extension.file, sent);
    }
    case "allExtensionNumbersOfType": {
      const typeName = message.value;
      const numbers: number[] = [];
      for (const desc of registry) {
        if (desc.kind === "extension" && desc.extendee.typeName === typeName) {
          numbers.push(desc.number);
        }
      }
      // As grpc-go and connect-go: a type without extensions (or not known at all) is not found.
      if (numbers.length === 0) return notFound(reply, `no extensions of "${typeName}"`);
      return {
        ...reply,
        messageResponse: {
          case: "allExtensionNumbersResponse",
          value: { baseTypeName: typeName, extensionNumber: numbers.sort((a, b) => a - b) },
        },
      };
    }
    default:
      throw new ConnectError("the reflection request names no question", Code.InvalidArgument);
  }
}

/** A file and its imports, breadth first, skipping imports this stream already sent. */
function files(reply: Reply, schema: Schema, root: DescFile, sent: Set<string>): Answer {
  const out: Uint8Array[] = [];
  const queue = [root];
  const queued = new Set([root.proto.name]);
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    const name = file.proto.name;
    if (file === root || !sent.has(name)) {
      sent.add(name);
      out.push(encoded(schema, file));
    }
    for (const dependency of file.dependencies) {
      if (queued.has(dependency.proto.name)) continue;
      queued.add(dependency.proto.name);
      queue.push(dependency);
    }
  }
  return {
    ...reply,
    messageResponse: { case: "fileDescriptorResponse", value: { fileDescriptorProto: out } },
  };
}

function encoded(schema: Schema, file: DescFile): Uint8Array {
  let bytes = schema.encoded.get(file.proto.name);
  if (bytes === undefined) {
    bytes = toBinary(FileDescriptorProtoSchema, file.proto);
    schema.encoded.set(file.proto.name, bytes);
  }
  return bytes;
}

function notFound(reply: Reply, message: string): Answer {
  return {
    ...reply,
    messageResponse: {
      case: "errorResponse",
      value: { errorCode: Code.NotFound, errorMessage: message },
    },
  };
}
