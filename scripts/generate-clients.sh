#!/usr/bin/env bash
# Regenerates the Go and Python clients' code (clients/go/gen, clients/python/gen)
# from proto/ with buf.gen.clients.yaml and Debian's local plugins; commit the result.
# `scripts/generate-clients.sh DIR` writes under DIR instead (the drift check uses it).
set -euo pipefail
cd "$(dirname "$0")/.."

# Each tool and the Debian package that ships it: a missing one fails here,
# naming the package, instead of buf's less telling "plugin not found".
missing=""
for pair in protoc:protobuf-compiler protoc-gen-go:protoc-gen-go \
  protoc-gen-go-grpc:protoc-gen-go-grpc grpc_python_plugin:protobuf-compiler-grpc; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
if [ -n "$missing" ]; then
  echo "generate-clients: missing Debian packages:$missing (apt-get install -y$missing)" >&2
  exit 1
fi

if [ $# -gt 0 ]; then
  npx buf generate --template buf.gen.clients.yaml -o "$1"
else
  npx buf generate --template buf.gen.clients.yaml
fi
