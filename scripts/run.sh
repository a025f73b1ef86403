#!/usr/bin/env bash
# `make run`: install what is missing, build, start the example webhook
# receiver and the supervisor on embedded defaults (127.0.0.1:8080,
# ./.sandforge-data, the `host` template) subscribed to it, and print how to
# use it.  Ctrl-C stops both; sandboxes are re-adopted next time.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "make run needs root (namespaces, cgroups, uid maps)" >&2; exit 1; }
./scripts/install-deps.sh
make -s -j"$(nproc)" all
LISTEN="${SANDFORGE_LISTEN:-127.0.0.1:8080}"
RECEIVER_PORT="${RECEIVER_PORT:-9000}"
mkdir -p .sandforge-data
SECRET_FILE=.sandforge-data/example-webhook-secret
[ -s "$SECRET_FILE" ] || echo "whsec_$(head -c 32 /dev/urandom | base64)" > "$SECRET_FILE"
SECRET=$(cat "$SECRET_FILE")
WEBHOOK_SECRET="$SECRET" PORT="$RECEIVER_PORT" /usr/bin/python3 examples/python/receiver.py &
RECEIVER=$!
trap 'kill $RECEIVER 2>/dev/null' EXIT
cat <<MSG

  Sandforge supervisor on http://$LISTEN; example receiver on http://127.0.0.1:$RECEIVER_PORT
  (every event is delivered there, signed; the receiver verifies and prints it below).

  Try, in another terminal:
    export SANDFORGE_URL=http://$LISTEN
    ID=\$(./build/bin/sandforge sandbox create --metadata project=demo)
    ./build/bin/sandforge exec \$ID -- python3 -c 'print(1+1)'
    ./build/bin/sandforge sandbox pause \$ID; ./build/bin/sandforge sandbox resume \$ID
    ./build/bin/sandforge sandbox rm \$ID
    curl -s http://$LISTEN/v1/events | python3 -m json.tool      # the event log

  OpenSandbox SDKs: domain "$LISTEN", image "host".   Ctrl-C to stop.

MSG
SANDFORGE_LOG_LEVEL="${SANDFORGE_LOG_LEVEL:-warn}" ./build/bin/sandforge supervisor --listen "$LISTEN" \
  --webhook-url "http://127.0.0.1:$RECEIVER_PORT/hooks/sandforge" --webhook-secret "$SECRET" "$@"
