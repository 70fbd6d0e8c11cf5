export {
  type DecodedPublishRequest,
  decodePublishBatchRequest,
  decodePublishRequest,
  WireDecodeError,
} from "./decode-publish.js";
export {
  encodeEvent,
  encodePublishBatchResponse,
  encodePublishResponse,
  encodeQueryEventsResponse,
  GRPC_PREFIX_BYTES,
  subscribeResponseBytes,
  subscribeResponseFrame,
  subscribeResponseFrames,
} from "./encode-event.js";
export { grpcFrame, grpcFrames } from "./grpc-frame.js";
