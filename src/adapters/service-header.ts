/**
 * The request header (gRPC metadata key alike) that names the publishing
 * service, on every protocol: gRPC, Connect, gRPC-Web and JSON-RPC.
 */
export const SERVICE_HEADER = "hub-service";
