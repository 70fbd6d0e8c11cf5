"""Subscribe that survives reconnects: resumes after the last sequence seen."""

import grpc

from hubbus.v1 import eventbus_pb2, eventbus_pb2_grpc

# A restarted gateway is back within seconds: redial at most every second
# instead of gRPC's default of up to two minutes.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


def connect(address="127.0.0.1:9001"):
    """An insecure (HTTP/2 cleartext) channel and an EventBusService stub on it."""
    channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
    return channel, eventbus_pb2_grpc.EventBusServiceStub(channel)


def follow(stub, pattern, after=None, on_disconnect=None, metadata=None):
    """Yields every event matching ``pattern``, in sequence order, exactly once.

    ``after``: the sequence to resume after (every stored matching event after
    it comes first). ``None`` means "from now": the newest matching event is
    looked up with QueryEvents and followed after, so even the first stream
    has a cursor and a reconnect before any event loses nothing.

    When the stream breaks (the gateway shuts down: UNAVAILABLE), follow calls
    ``on_disconnect(error, last_sequence)`` if given, then subscribes again
    with ``after_sequence=last_sequence``: the events stored in between are
    replayed first. Other errors (INVALID_ARGUMENT, PERMISSION_DENIED,
    OUT_OF_RANGE, ...) are raised. Closing the generator cancels the call.
    ``metadata``, e.g. ``[("authorization", "Bearer <token>")]``, goes with
    every call.
    """
    if after is None:
        newest = stub.QueryEvents(
            eventbus_pb2.QueryEventsRequest(subject=pattern, limit=1),
            metadata=metadata,
            wait_for_ready=True,
        )
        after = newest.events[0].sequence if newest.events else 0
    last = after
    while True:
        call = stub.Subscribe(
            eventbus_pb2.SubscribeRequest(subject=pattern, after_sequence=last),
            metadata=metadata,
            wait_for_ready=True,
        )
        try:
            for response in call:
                yield response.event
                last = response.event.sequence
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            if on_disconnect is not None:
                on_disconnect(error, last)
            continue
        finally:
            call.cancel()
        # A stream that ends without an error: the server closed it; resume too.
        if on_disconnect is not None:
            on_disconnect(None, last)
