export { type AccessLogEntry, writeAccessLog } from "./access-log.js";
export {
  CallContext,
  type CallInit,
  type MethodName,
  type Protocol,
  SERVICE_HEADER,
  type UnaryMethod,
} from "./context.js";
export {
  createPipeline,
  type Pipeline,
  type PipelineOptions,
  type PublishRequestInput,
  type Stage,
  type StreamCall,
  type StreamNext,
  type UnaryCall,
  type UnaryCalls,
  type UnaryNext,
} from "./pipeline.js";
export { formatSubject, tlsSubjectOf, tlsSubjectOfRequest } from "./tls-subject.js";
