// Tags (field number << 3 | wire type) of google.protobuf.Struct, Value and
// ListValue: the encoder and the decoder must agree on every one of them.

// google.protobuf.Struct (map entries: key 1, value 2) and ListValue
export const STRUCT_FIELDS = 0x0a;
export const ENTRY_KEY = 0x0a;
export const ENTRY_VALUE = 0x12;
export const LIST_VALUES = 0x0a;
// google.protobuf.Value
export const VALUE_NULL = 0x08;
export const VALUE_NUMBER = 0x11;
export const VALUE_STRING = 0x1a;
export const VALUE_BOOL = 0x20;
export const VALUE_STRUCT = 0x2a;
export const VALUE_LIST = 0x32;
