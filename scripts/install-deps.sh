#!/usr/bin/env bash
# Installs the Debian packages Sandforge needs to build, test and run, only
# when something is missing (so `make run` is fast on a prepared machine).
set -euo pipefail
PKGS=(build-essential pkg-config clang libclang-rt-14-dev valgrind clang-format
      libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libsqlite3-dev libssl-dev
      libseccomp-dev libinih-dev libcmocka-dev libcap-dev
      python3 python3-pytest bubblewrap wrk iproute2 curl sqlite3)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js + npm (for the OpenSandbox SDK end-to-end test and the Node receiver).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
