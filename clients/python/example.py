#!/usr/bin/python3
"""Publishes an event, queries the stored ones, then follows a pattern live,
resuming after the last sequence it printed when the gateway restarts (stop
and start `hubbus serve` while it runs).

    /usr/bin/python3 clients/python/example.py --addr 127.0.0.1:9001 --pattern 'hub.*.project.>' [-n 3]

HUBBUS_TOKEN, when set, is sent as a bearer token (gateways with AUTH_FILE).
"""

import argparse
import json
import os
import sys

from google.protobuf import json_format, struct_pb2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hubbus_client import connect, eventbus_pb2, follow  # noqa: E402


def payload_json(event):
    # Sorted: a Struct's fields come in no fixed order.
    return json.dumps(json_format.MessageToDict(event.payload), sort_keys=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:9001", help="gateway host:port (gRPC over HTTP/2 cleartext)")
    parser.add_argument("--pattern", default="hub.*.project.>", help="subject pattern to query and follow")
    parser.add_argument("--subject", default="project.created",
                        help="subject to publish (without hub. it gets hub.<hub_id>. in front)")
    parser.add_argument("-n", type=int, default=0, help="exit after following this many events (0: until interrupted)")
    args = parser.parse_args()

    token = os.environ.get("HUBBUS_TOKEN")
    metadata = [("authorization", f"Bearer {token}")] if token else None
    channel, stub = connect(args.addr)
    with channel:
        data = struct_pb2.Struct()
        data.update({"project_id": "p-1", "from": "python-example"})
        published = stub.Publish(eventbus_pb2.PublishRequest(subject=args.subject, payload=data), metadata=metadata)
        print(f"published {published.subject} as sequence {published.sequence} (event {published.event_id})")

        stored = stub.QueryEvents(eventbus_pb2.QueryEventsRequest(subject=args.pattern, limit=5), metadata=metadata)
        print(f"{stored.count} newest stored events for {args.pattern}:")
        for e in stored.events:
            print(f"  #{e.sequence} {e.subject} {payload_json(e)}")

        def on_disconnect(error, last):
            reason = error.code().name if error is not None else "ended"
            print(f"stream broke ({reason}); resuming after sequence {last}", flush=True)

        seen = 0
        # Resume from just before our own event, so it is the first one followed.
        try:
            for e in follow(stub, args.pattern, after=published.sequence - 1,
                            on_disconnect=on_disconnect, metadata=metadata):
                print(f"event #{e.sequence} {e.subject} {payload_json(e)}", flush=True)
                seen += 1
                if args.n and seen >= args.n:
                    break
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
