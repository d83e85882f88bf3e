#!/usr/bin/env bash
# Installs everything Steward needs on a fresh Debian machine (run as root):
# the datastore servers from Debian's packages, the npm dependencies from the
# lockfile, and the generated gRPC code. Quick when all of it is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# systemd-analyze checks the units; g++ and make build the packages' native addons for their runtime;
# debootstrap and systemd-nspawn make and boot the machine the packages are installed on.
# xfsprogs makes and grows the data volumes of local instances (loop devices).
PACKAGES=(mariadb-server mariadb-client mariadb-backup postgresql redis-server rabbitmq-server zstd systemd g++ make python3 debootstrap systemd-container docker.io xfsprogs)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then echo "setup: need root to install packages (${missing[*]})" >&2; exit 1; fi
  # Never let package scripts start the system-wide servers: Steward runs its own.
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; trap 'rm -f /usr/sbin/policy-rc.d' EXIT; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm dependencies exactly as locked; re-run only when the lockfile changed.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi

node scripts/gen-proto.mjs
# Agent, controller and stewardctl as plain JavaScript (dist/): nothing transpiles at run time.
node scripts/build.mjs

# The Debian machine the install test boots under systemd (made once, cached).
if [ "$(id -u)" -eq 0 ]; then bash scripts/debian-root.sh systemd-host >/dev/null; fi

# The datastore images, built from a Debian root by docker.io's engine on its own socket (cached; started by the tests when they need it).
if [ "$(id -u)" -eq 0 ]; then bash scripts/containers.sh setup >/dev/null; fi

# Cassandra 5.0 from its Maven Central artifact (jars cached once).
bash scripts/fetch-cassandra.sh
bash scripts/setup-python.sh >/dev/null

# The S3-compatible server the backup tests use, built once from the Go module proxy.
if ! command -v go >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-go >/dev/null
fi
bash scripts/s3-server.sh >/dev/null
