export {
  type DecodedPublishRequest,
  decodePublishBatchRequest,
  decodePublishRequest,
  WireDecodeError,
} from "./decode-publish.js";
export { encodeEvent } from "./encode-event.js";
export {
  encodePublishBatchResponse,
  encodePublishResponse,
  encodeQueryEventsResponse,
} from "./encode-responses.js";
export {
  GRPC_PREFIX_BYTES,
  grpcFrame,
  grpcFrames,
  subscribeResponseBytes,
  subscribeResponseFrame,
  subscribeResponseFrames,
} from "./grpc-frame.js";
