#!/usr/bin/env bash
# Fails when clients/go/gen or clients/python/gen differ from what
# scripts/generate-clients.sh makes from proto/ (as .ci/run does for gen/).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
scripts/generate-clients.sh "$tmp"
status=0
for dir in clients/go/gen clients/python/gen; do
  # __pycache__ is what running the Python client leaves; it is not generated code.
  if ! diff -r -x __pycache__ "$dir" "$tmp/$dir"; then
    echo "$dir differs from what scripts/generate-clients.sh makes: run it and commit $dir" >&2
    status=1
  fi
done
[ "$status" -eq 0 ] && echo "clients/go/gen and clients/python/gen are current"
exit "$status"
