#!/usr/bin/env bash
# `make run`: install what is missing, build, start the supervisor on its
# embedded defaults (127.0.0.1:8080, ./.sandforge-data, the `host` template)
# and print how to use it.  Ctrl-C stops it; sandboxes are re-adopted next time.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "make run needs root (namespaces, cgroups, uid maps)" >&2; exit 1; }
./scripts/install-deps.sh
make -s -j"$(nproc)" all
LISTEN="${SANDFORGE_LISTEN:-127.0.0.1:8080}"
cat <<MSG

  Sandforge supervisor on http://$LISTEN   (data: ./.sandforge-data, logs: JSON lines below)

  Try, in another terminal:
    export SANDFORGE_URL=http://$LISTEN
    ID=\$(./build/bin/sandforge sandbox create --metadata project=demo)
    ./build/bin/sandforge exec \$ID -- python3 -c 'print(1+1)'
    ./build/bin/sandforge files put \$ID README.md /home/user/README.md
    ./build/bin/sandforge sandbox pause \$ID; ./build/bin/sandforge sandbox resume \$ID
    ./build/bin/sandforge sandbox ls; ./build/bin/sandforge sandbox rm \$ID
    curl -s http://$LISTEN/v1/events | python3 -m json.tool      # the event log

  OpenSandbox SDKs: domain "$LISTEN", image "host".   Ctrl-C to stop.

MSG
exec ./build/bin/sandforge supervisor --listen "$LISTEN" "$@"
