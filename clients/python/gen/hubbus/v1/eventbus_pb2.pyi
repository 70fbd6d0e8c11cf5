from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Event(_message.Message):
    __slots__ = ["correlation_id", "id", "origin", "payload", "sequence", "subject", "timestamp"]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    correlation_id: str
    id: str
    origin: Origin
    payload: _struct_pb2.Struct
    sequence: int
    subject: str
    timestamp: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., subject: _Optional[str] = ..., origin: _Optional[_Union[Origin, _Mapping]] = ..., correlation_id: _Optional[str] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., timestamp: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., sequence: _Optional[int] = ...) -> None: ...

class GetHealthRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class GetHealthResponse(_message.Message):
    __slots__ = ["details", "services", "status"]
    class DetailsEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ServicesEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    details: _containers.ScalarMap[str, str]
    services: _containers.ScalarMap[str, str]
    status: str
    def __init__(self, status: _Optional[str] = ..., services: _Optional[_Mapping[str, str]] = ..., details: _Optional[_Mapping[str, str]] = ...) -> None: ...

class GetHubInfoRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class GetHubInfoResponse(_message.Message):
    __slots__ = ["hub_id", "status", "version"]
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    hub_id: str
    status: str
    version: str
    def __init__(self, hub_id: _Optional[str] = ..., version: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class Hub(_message.Message):
    __slots__ = ["hub_id", "instances", "last_seen", "started_at", "status", "url", "version"]
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    hub_id: str
    instances: int
    last_seen: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    status: str
    url: str
    version: str
    def __init__(self, hub_id: _Optional[str] = ..., version: _Optional[str] = ..., url: _Optional[str] = ..., status: _Optional[str] = ..., last_seen: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., instances: _Optional[int] = ...) -> None: ...

class ListHubsRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ListHubsResponse(_message.Message):
    __slots__ = ["hubs"]
    HUBS_FIELD_NUMBER: _ClassVar[int]
    hubs: _containers.RepeatedCompositeFieldContainer[Hub]
    def __init__(self, hubs: _Optional[_Iterable[_Union[Hub, _Mapping]]] = ...) -> None: ...

class Origin(_message.Message):
    __slots__ = ["hub_id", "service"]
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    hub_id: str
    service: str
    def __init__(self, hub_id: _Optional[str] = ..., service: _Optional[str] = ...) -> None: ...

class PublishBatchRequest(_message.Message):
    __slots__ = ["events"]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[PublishRequest]
    def __init__(self, events: _Optional[_Iterable[_Union[PublishRequest, _Mapping]]] = ...) -> None: ...

class PublishBatchResponse(_message.Message):
    __slots__ = ["results"]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[PublishResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[PublishResponse, _Mapping]]] = ...) -> None: ...

class PublishRequest(_message.Message):
    __slots__ = ["correlation_id", "idempotency_key", "payload", "subject"]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    correlation_id: str
    idempotency_key: str
    payload: _struct_pb2.Struct
    subject: str
    def __init__(self, subject: _Optional[str] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., correlation_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class PublishResponse(_message.Message):
    __slots__ = ["correlation_id", "duplicate", "event_id", "published", "sequence", "subject"]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    correlation_id: str
    duplicate: bool
    event_id: str
    published: bool
    sequence: int
    subject: str
    def __init__(self, published: bool = ..., subject: _Optional[str] = ..., correlation_id: _Optional[str] = ..., event_id: _Optional[str] = ..., sequence: _Optional[int] = ..., duplicate: bool = ...) -> None: ...

class QueryEventsRequest(_message.Message):
    __slots__ = ["limit", "subject"]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    subject: str
    def __init__(self, subject: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class QueryEventsResponse(_message.Message):
    __slots__ = ["count", "events"]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    count: int
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., count: _Optional[int] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ["after_sequence", "subject"]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    after_sequence: int
    subject: str
    def __init__(self, subject: _Optional[str] = ..., after_sequence: _Optional[int] = ...) -> None: ...

class SubscribeResponse(_message.Message):
    __slots__ = ["event"]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: Event
    def __init__(self, event: _Optional[_Union[Event, _Mapping]] = ...) -> None: ...
