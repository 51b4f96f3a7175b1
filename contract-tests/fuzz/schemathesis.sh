#!/usr/bin/env bash
# Schema fuzzing of the REST API from its own OpenAPI document: schemathesis generates requests
# from /openapi.json (examples, boundary coverage, random fuzzing) against a sandbox gateway and
# fails on any 5xx, any response that breaks the documented schema, status code or content type,
# any accepted schema-invalid request and any operation that ignores authentication. Not checked:
# "schema-valid requests are accepted" — identity codes, municipality codes and dates carry
# checksums and rules a JSON schema does not express.
#
#   contract-tests/fuzz/schemathesis.sh [PORTTI_BINARY] [MAX_EXAMPLES]
set -euo pipefail
cd "$(dirname "$0")/../.."
binary="${1:-target/debug/portti}"
max_examples="${2:-25}"
venv="${SCHEMATHESIS_VENV:-$HOME/.cache/portti-schemathesis}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==4.32.5"

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
binary="$(realpath "$binary")"
(
  cd "$work"
  env -u PORTTI_CONFIG PORTTI_LISTEN="127.0.0.1:$port" \
    PORTTI_SANDBOX_SERVICES__MESSAGES_LISTEN=127.0.0.1:0 PORTTI_SANDBOX_SERVICES__KANTA_LISTEN=127.0.0.1:0 \
    PORTTI_SANDBOX_SERVICES__IDENTIFICATION_LISTEN=127.0.0.1:0 PORTTI_SANDBOX_SERVICES__MANDATES_LISTEN=127.0.0.1:0 \
    PORTTI_SANDBOX_SERVICES__ODA_LISTEN=127.0.0.1:0 PORTTI_SANDBOX_SERVICES__TSA_LISTEN=127.0.0.1:0 \
    PORTTI_SANDBOX_SERVICES__PTV_LISTEN=127.0.0.1:0 \
    "$binary" >"$work/gateway.log" 2>&1 &
  echo $! >"$work/pid"
)
trap 'kill "$(cat "$work/pid")" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$work/gateway.log"; exit 1; }

scopes="cases:write,cases:read,messages:send,exchanges:read,exchanges:retry,audit:read,jobs:run,kanta:archive,kanta:read,reports:read,services:read"
token="$(cd "$work" && env -u PORTTI_CONFIG "$binary" token --client schemathesis --scopes "$scopes" --orgs 853 | tail -n1)"

# From the scratch directory: schemathesis keeps a cache of what it found in the working directory.
cd "$work"
"$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
  -H "Authorization: Bearer $token" \
  --checks all --exclude-checks positive_data_acceptance \
  --phases examples,coverage,fuzzing \
  --max-examples "$max_examples" --workers 1 --seed 20261126 \
  --no-color
