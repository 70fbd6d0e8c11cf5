# Sourced by the scripts that build the Go client: GOPATH mode (no module
# proxy can be reached, and Debian ships grpc-go and protobuf-go as GOPATH
# sources under /usr/share/gocode), with this repository's clients/go
# reachable as the import path hubbus/clients/go through a symlink in a
# temporary GOPATH entry. Sets HUBBUS_GOPATH_TMP for the caller to remove.
HUBBUS_GOPATH_TMP=$(mktemp -d)
mkdir -p "$HUBBUS_GOPATH_TMP/src/hubbus/clients"
ln -s "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/clients/go" "$HUBBUS_GOPATH_TMP/src/hubbus/clients/go"
export GO111MODULE=off GOFLAGS= GOPROXY=off
export GOPATH="$HUBBUS_GOPATH_TMP:/usr/share/gocode"
