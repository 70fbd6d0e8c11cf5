// Tags (field number << 3 | wire type) of every message this folder reads or
// writes, in one place: the encoders and the decoder must agree with the
// .proto files, and each other, on every one of them. A one-byte tag is all
// any of these fields needs. Modules import this file as a namespace, so no
// file repeats a list of the tags it shares with another.

// hubbus.v1.Event
/** `Event.id`: field 1, string. */
export const EVENT_ID = 0x0a;
/** `Event.subject`: field 2, string. */
export const EVENT_SUBJECT = 0x12;
/** `Event.origin`: field 3, Origin. */
export const EVENT_ORIGIN = 0x1a;
/** `Event.correlation_id`: field 4, string. */
export const EVENT_CORRELATION_ID = 0x22;
/** `Event.payload`: field 5, Struct. */
export const EVENT_PAYLOAD = 0x2a;
/** `Event.timestamp`: field 6, Timestamp. */
export const EVENT_TIMESTAMP = 0x32;
/** `Event.sequence`: field 7, uint64. */
export const EVENT_SEQUENCE = 0x38;
// hubbus.v1.Origin
/** `Origin.hub_id`: field 1, string. */
export const ORIGIN_HUB_ID = 0x0a;
/** `Origin.service`: field 2, string. */
export const ORIGIN_SERVICE = 0x12;

// hubbus.v1.PublishRequest
/** `PublishRequest.subject`: field 1, string. */
export const REQUEST_SUBJECT = 0x0a;
/** `PublishRequest.payload`: field 2, Struct. */
export const REQUEST_PAYLOAD = 0x12;
/** `PublishRequest.correlation_id`: field 3, string. */
export const REQUEST_CORRELATION_ID = 0x1a;
/** `PublishRequest.idempotency_key`: field 4, string. */
export const REQUEST_IDEMPOTENCY_KEY = 0x22;
// hubbus.v1.PublishBatchRequest
/** `PublishBatchRequest.events`: field 1, repeated PublishRequest. */
export const BATCH_REQUEST_EVENTS = 0x0a;

// hubbus.v1.PublishResponse
/** `PublishResponse.published`: field 1, bool. */
export const PUBLISH_PUBLISHED = 0x08;
/** `PublishResponse.subject`: field 2, string. */
export const PUBLISH_SUBJECT = 0x12;
/** `PublishResponse.correlation_id`: field 3, string. */
export const PUBLISH_CORRELATION_ID = 0x1a;
/** `PublishResponse.event_id`: field 4, string. */
export const PUBLISH_EVENT_ID = 0x22;
/** `PublishResponse.sequence`: field 5, uint64. */
export const PUBLISH_SEQUENCE = 0x28;
/** `PublishResponse.duplicate`: field 6, bool. */
export const PUBLISH_DUPLICATE = 0x30;
// hubbus.v1.PublishBatchResponse
/** `PublishBatchResponse.results`: field 1, repeated PublishResponse. */
export const BATCH_RESPONSE_RESULTS = 0x0a;
// hubbus.v1.QueryEventsResponse
/** `QueryEventsResponse.events`: field 1, repeated Event. */
export const QUERY_EVENTS = 0x0a;
/** `QueryEventsResponse.count`: field 2, uint32. */
export const QUERY_COUNT = 0x10;
// hubbus.v1.SubscribeResponse
/** `SubscribeResponse.event`: field 1, Event. */
export const SUBSCRIBE_RESPONSE_EVENT = 0x0a;

// google.protobuf.Timestamp
/** `Timestamp.seconds`: field 1, int64. */
export const TIMESTAMP_SECONDS = 0x08;
/** `Timestamp.nanos`: field 2, int32. */
export const TIMESTAMP_NANOS = 0x10;
// google.protobuf.Struct (map entries: key 1, value 2) and ListValue
/** `Struct.fields`: field 1, map<string, Value> (repeated entries). */
export const STRUCT_FIELDS = 0x0a;
/** Key of a `Struct.fields` map entry: field 1, string. */
export const ENTRY_KEY = 0x0a;
/** Value of a `Struct.fields` map entry: field 2, Value. */
export const ENTRY_VALUE = 0x12;
/** `ListValue.values`: field 1, repeated Value. */
export const LIST_VALUES = 0x0a;
// google.protobuf.Value
/** `Value.null_value`: field 1, NullValue (an enum). */
export const VALUE_NULL = 0x08;
/** `Value.number_value`: field 2, double. */
export const VALUE_NUMBER = 0x11;
/** `Value.string_value`: field 3, string. */
export const VALUE_STRING = 0x1a;
/** `Value.bool_value`: field 4, bool. */
export const VALUE_BOOL = 0x20;
/** `Value.struct_value`: field 5, Struct. */
export const VALUE_STRUCT = 0x2a;
/** `Value.list_value`: field 6, ListValue. */
export const VALUE_LIST = 0x32;
