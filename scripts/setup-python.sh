#!/usr/bin/env bash
# Makes the project's Python virtual environment with the exact clients the
# compatibility tests drive: python-troveclient and python-openstackclient
# (`openstack database ...`, the legacy `trove` CLI) and oslo.messaging (a real
# notification listener), pinned in requirements-test.txt. Quick when the
# environment for the current requirements already exists.
#
#   STEWARD_VENV  where to put it; default /var/cache/steward/venv-<hash of the
#                 requirements> as root, else ~/.cache/steward/venv-<hash>
#
# Prints the environment's directory (its bin/ holds the tools) on the last line.
set -euo pipefail
cd "$(dirname "$0")/.."

req=requirements-test.txt
hash="$(sha256sum "$req" | cut -c1-16)"
if [ -n "${STEWARD_VENV:-}" ]; then
  venv="$STEWARD_VENV"
elif [ "$(id -u)" -eq 0 ]; then
  venv="/var/cache/steward/venv-$hash"
else
  venv="${XDG_CACHE_HOME:-$HOME/.cache}/steward/venv-$hash"
fi

# The marker is written last: an install cut short is redone, never half used.
if [ -f "$venv/.complete" ] && [ "$(cat "$venv/.complete")" = "$hash" ]; then
  echo "$venv"
  exit 0
fi

if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then echo "setup-python: need root to install python3-venv" >&2; exit 1; fi
  echo "setup-python: installing python3-venv" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi

echo "setup-python: creating $venv from $req" >&2
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --no-cache-dir --disable-pip-version-check -r "$req" >&2
"$venv/bin/openstack" --version >/dev/null
"$venv/bin/python" -c 'import oslo_messaging, troveclient' >&2
echo "$hash" > "$venv/.complete"
echo "$venv"
