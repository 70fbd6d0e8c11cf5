#!/usr/bin/env bash
# Checks that docker-compose.yml is a valid Compose file, as `docker compose config`
# would, on a machine without a Docker engine. Exits non-zero when it is not.
#
#   1. The Compose v2 plugin, `docker compose config -q`, when this machine has it
#      (Debian 12 does not package it). Otherwise Debian's docker-compose 1.29
#      (`apt-get install docker-compose`): `docker-compose config -q` needs no
#      engine and checks the schema and the cross-references (an undefined
#      service in depends_on, a bad condition, interpolation).
#   2. dclint (npm, pinned) with every lint rule off: YAML plus the current
#      compose-spec JSON schema, the schema v2 validates against, which is
#      newer than the one inside docker-compose 1.29.
#
# Usage: scripts/check-compose.sh [compose-file]   (default: docker-compose.yml)
set -euo pipefail
cd "$(dirname "$0")/.."

file="${1:-docker-compose.yml}"
DCLINT_VERSION="3.1.0"
[ -f "$file" ] || { echo "check-compose: $file not found" >&2; exit 1; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if docker compose version >/dev/null 2>&1; then
  echo "==> docker compose config ($(docker compose version --short))"
  docker compose -f "$file" config -q
else
  if ! command -v docker-compose >/dev/null 2>&1; then
    echo "==> installing Debian's docker-compose (the v2 plugin is not packaged here)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
  fi
  echo "==> docker-compose config ($(docker-compose version --short))"
  docker-compose -f "$file" config -q
fi

echo "==> compose-spec schema (dclint $DCLINT_VERSION, lint rules off)"
config="$(mktemp --suffix=.json)"
trap 'rm -f "$config"' EXIT
# Style rules are opinions, not validity: this step is only about the schema.
cat >"$config" <<'JSON'
{
  "rules": {
    "no-build-and-image": 0,
    "no-duplicate-container-names": 0,
    "no-duplicate-exported-ports": 0,
    "no-quotes-in-volumes": 0,
    "no-unbound-port-interfaces": 0,
    "no-version-field": 0,
    "require-project-name-field": 0,
    "require-quotes-in-ports": 0,
    "service-container-name-regex": 0,
    "service-dependencies-alphabetical-order": 0,
    "service-image-require-explicit-tag": 0,
    "service-keys-order": 0,
    "service-ports-alphabetical-order": 0,
    "services-alphabetical-order": 0,
    "top-level-properties-order": 0
  }
}
JSON
npx --yes "dclint@$DCLINT_VERSION" --config "$config" --max-warnings 0 "$file"

echo "check-compose: $file is valid"
