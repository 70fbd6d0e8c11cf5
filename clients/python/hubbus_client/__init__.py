"""hubbus's Python client: the generated EventBusService stub and follow().

The generated modules live in ../gen as the package ``hubbus.v1`` (protoc's
layout, whose grpc module imports ``hubbus.v1.eventbus_pb2``); importing this
package puts that directory on sys.path so ``hubbus.v1`` resolves without a
PYTHONPATH of its own.
"""

import os
import sys

_GEN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gen")
if _GEN not in sys.path:
    sys.path.insert(0, _GEN)

from hubbus.v1 import eventbus_pb2, eventbus_pb2_grpc  # noqa: E402

from .follow import follow, connect  # noqa: E402

__all__ = ["eventbus_pb2", "eventbus_pb2_grpc", "follow", "connect"]
