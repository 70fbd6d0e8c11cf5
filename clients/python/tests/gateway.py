"""A real hubbus gateway for the Python client's tests (`hubbus serve` from
this repository's sources through tsx): embedded defaults, SQLite in a
directory the test owns, no NATS (the in-process bus)."""

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.environ.get("HUBBUS_ROOT") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
)
# tsx compiles the sources on start; a loaded machine takes seconds.
START_TIMEOUT_S = 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gateway:
    """One `hubbus serve` process; start() again on the same port and data
    directory is a restart: the same log, the same address."""

    def __init__(self, port, data_dir):
        self.port = port
        self.data_dir = data_dir
        self.process = None
        self.log = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", ROOT),
            "PORT": str(self.port),
            "DATABASE_URL": "sqlite:" + os.path.join(self.data_dir, "hub.db"),
            "LOG_LEVEL": "warn",
        }
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [os.environ.get("NODE", "node"), "--import", "tsx", "src/cli/main.ts", "serve"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"hubbus serve exited with {self.process.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"http://{self.address}/healthz", timeout=1) as res:
                    if res.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                pass
            if time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError(f"hubbus serve did not answer /healthz in {START_TIMEOUT_S}s:\n{self.output()}")
            # Polls the event itself (the gateway answering), paced so as not
            # to spin a core the gateway needs to start.
            time.sleep(0.05)

    def stop(self):
        """SIGTERM (a clean shutdown: streams end with UNAVAILABLE), then SIGKILL after 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def output(self):
        if self.log is None:
            return ""
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")[-64 * 1024:]

    def publish_jsonrpc(self, topic, payload):
        """bus.publish over POST /rpc, as curl would; returns the sequence."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "bus.publish",
                           "params": {"topic": topic, "payload": payload}}).encode()
        req = urllib.request.Request(f"http://{self.address}/rpc", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as res:
            answer = json.load(res)
        if "result" not in answer:
            raise RuntimeError(f"bus.publish failed: {answer}")
        return answer["result"]["sequence"]
