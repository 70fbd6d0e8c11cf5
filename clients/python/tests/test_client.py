"""The Python client against a real gateway: publish, query, and a follow()
that resumes after the gateway restarts, with no gap and no duplicate."""

import os
import queue
import subprocess
import sys
import tempfile
import threading
import unittest

import grpc
from google.protobuf import json_format, struct_pb2

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from hubbus_client import connect, eventbus_pb2, follow  # noqa: E402

from gateway import Gateway, free_port  # noqa: E402

# Bounds every wait: an event that never comes fails the test instead of hanging it.
TIMEOUT_S = 20


def payload(**fields):
    s = struct_pb2.Struct()
    s.update(fields)
    return s


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.data = tempfile.TemporaryDirectory()
        self.addCleanup(self.data.cleanup)
        self.gateway = Gateway(free_port(), self.data.name).start()
        self.addCleanup(self.gateway.stop)
        self.channel, self.stub = connect(self.gateway.address)
        self.addCleanup(self.channel.close)

    def publish(self, subject, **fields):
        # wait_for_ready: after a restart the channel may still be redialling.
        return self.stub.Publish(
            eventbus_pb2.PublishRequest(subject=subject, payload=payload(**fields)),
            timeout=TIMEOUT_S, wait_for_ready=True,
        )

    def test_publish_and_query(self):
        first = self.stub.Publish(
            eventbus_pb2.PublishRequest(subject="project.created",
                                        payload=payload(project_id="p-1", tags=["a", "b"]),
                                        correlation_id="py-client-1"),
            timeout=TIMEOUT_S,
        )
        self.assertTrue(first.published)
        self.assertEqual(first.subject, "hub.local-hub.project.created")
        self.assertEqual(first.correlation_id, "py-client-1")
        self.assertEqual(first.sequence, 1)
        second = self.publish("hub.local-hub.project.started", n=2)
        self.publish("hub.local-hub.billing.paid", n=3)

        res = self.stub.QueryEvents(eventbus_pb2.QueryEventsRequest(subject="hub.*.project.>", limit=10),
                                    timeout=TIMEOUT_S)
        self.assertEqual(res.count, 2)
        self.assertEqual([e.sequence for e in res.events], [second.sequence, first.sequence])  # newest first
        oldest = res.events[1]
        self.assertEqual(oldest.id, first.event_id)
        self.assertEqual(json_format.MessageToDict(oldest.payload), {"project_id": "p-1", "tags": ["a", "b"]})
        self.assertEqual(oldest.origin.hub_id, "local-hub")
        self.assertGreater(oldest.timestamp.seconds, 0)

        with self.assertRaises(grpc.RpcError) as refused:
            self.stub.Publish(eventbus_pb2.PublishRequest(subject="hub.local-hub.ping"), timeout=TIMEOUT_S)
        self.assertEqual(refused.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("hub.local-hub.ping", refused.exception.details())

    def test_follow_resumes_after_restart(self):
        # Stored before the subscription: follow(after=0) must replay them.
        for n in (1, 2, 3):
            self.publish("project.created", n=n)
        self.publish("billing.paid", n=0)  # not matched by the pattern

        events = queue.Queue()
        disconnected = queue.Queue()
        reconnect = threading.Event()
        ended = queue.Queue()

        def on_disconnect(error, last):
            disconnected.put(last)
            # Holds the reconnect until the test has stored events the
            # subscriber cannot have seen live.
            reconnect.wait(TIMEOUT_S)

        def run():
            try:
                for event in follow(self.stub, "hub.*.project.>", after=0, on_disconnect=on_disconnect):
                    events.put(event)
            except grpc.RpcError as error:
                ended.put(error.code())

        thread = threading.Thread(target=run, daemon=True)
        thread.start()

        got = []

        def take(n):
            for _ in range(n):
                try:
                    event = events.get(timeout=TIMEOUT_S)
                except queue.Empty:
                    self.fail(f"no event within {TIMEOUT_S}s (have {got})\n{self.gateway.output()}")
                self.assertTrue(event.subject.startswith("hub.local-hub.project."), event.subject)
                got.append(event.sequence)

        take(3)
        live = self.publish("project.started", n=4)
        take(1)
        self.assertEqual(got[-1], live.sequence)

        self.gateway.stop()
        self.assertEqual(disconnected.get(timeout=TIMEOUT_S), live.sequence)
        self.gateway.start()
        # Stored while the subscriber is away: only a resume from the last sequence brings them.
        missed = [self.publish("project.updated", n=n).sequence for n in (5, 6)]
        reconnect.set()
        take(2)
        # Live after the resume, and from another protocol (JSON-RPC).
        seq = self.gateway.publish_jsonrpc("project.closed", {"n": 7})
        take(1)

        self.assertEqual(got, [1, 2, 3, live.sequence, *missed, seq], "a gap or a duplicate")
        self.assertTrue(events.empty(), "an extra event arrived")
        # Closing the channel cancels the stream: follow() raises CANCELLED, not a retry.
        self.channel.close()
        self.assertEqual(ended.get(timeout=TIMEOUT_S), grpc.StatusCode.CANCELLED)
        thread.join(TIMEOUT_S)

    def test_example_runs(self):
        example = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "example.py")
        out = subprocess.run(
            [sys.executable, example, "--addr", self.gateway.address, "-n", "1"],
            capture_output=True, text=True, timeout=120,
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("published hub.local-hub.project.created as sequence 1", out.stdout)
        self.assertIn("1 newest stored events for hub.*.project.>:", out.stdout)
        self.assertIn('event #1 hub.local-hub.project.created {"from": "python-example", "project_id": "p-1"}',
                      out.stdout)


if __name__ == "__main__":
    unittest.main()
