#!/usr/bin/env bash
# The Go and Python clients' tests: each starts its own gateway (`hubbus serve`
# from these sources, SQLite in a temporary directory, no NATS) on a free port.
# Needs Debian's golang, golang-google-grpc-dev, golang-github-golang-protobuf-1-5-dev,
# python3-grpcio, python3-protobuf and python3-pytest (.ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export HUBBUS_ROOT="$root"

echo "--- Go client (GOPATH mode on /usr/share/gocode)"
# shellcheck source=scripts/go-env.sh
source scripts/go-env.sh
trap 'rm -rf "$HUBBUS_GOPATH_TMP"' EXIT
# Packages named one by one: GOPATH mode's ./... does not follow the symlink.
go_packages=(hubbus/clients/go/gen/hubbus/v1 hubbus/clients/go/follow
  hubbus/clients/go/internal/gateway hubbus/clients/go/cmd/example)
unformatted=$(gofmt -l clients/go/follow clients/go/internal clients/go/cmd)
if [ -n "$unformatted" ]; then
  echo "not gofmt-formatted: $unformatted" >&2
  exit 1
fi
go vet "${go_packages[@]}"
go test -count=1 -timeout 5m -v "${go_packages[@]}"

echo "--- Python client (Debian's /usr/bin/python3 and python3-grpcio)"
# Debian's interpreter by path: a python3 earlier on PATH (pyenv) has no grpc.
PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -m pytest -p no:cacheprovider -v clients/python/tests
