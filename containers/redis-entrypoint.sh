#!/bin/sh
# Starts Redis 7 in a container (containers/redis.Containerfile). Settings come
# from the environment and are checked before anything uses them:
#   STEWARD_ADMIN_PASSWORD  steward_admin's password (required; only its SHA-256 is stored)
#   STEWARD_BIND            the address the server listens on (default 127.0.0.1)
#   STEWARD_PORT            its TCP port (default 6379)
#   STEWARD_RUN_DIR         where the socket goes (default /run/steward; bind-mount
#                           it to reach the admin account from outside, as an agent does)
set -eu
fail() { echo "steward-entrypoint: $*" >&2; exit 64; }
# check NAME VALUE REGEX WHAT: one line (grep -x alone would judge each line of a value apart) matching REGEX.
check() {
  case $2 in *'
'*) fail "$1: one line only" ;; esac
  printf '%s' "$2" | grep -Eqx -- "$3" || fail "$1: $4"
}
password=${STEWARD_ADMIN_PASSWORD:-}
bind=${STEWARD_BIND:-127.0.0.1}
port=${STEWARD_PORT:-6379}
run=${STEWARD_RUN_DIR:-/run/steward}
check STEWARD_ADMIN_PASSWORD "$password" '[A-Za-z0-9._~-]{16,128}' '16 to 128 of A-Z a-z 0-9 . _ ~ -'
check STEWARD_BIND "$bind" '([0-9]{1,3}\.){3}[0-9]{1,3}' 'an IPv4 address'
check STEWARD_PORT "$port" '[1-9][0-9]{0,4}' 'a port number'
[ "$port" -le 65535 ] || fail "STEWARD_PORT: a port number"
check STEWARD_RUN_DIR "$run" '/[A-Za-z0-9._/-]{1,80}' 'an absolute path of A-Z a-z 0-9 . _ / -'
[ -d "$run" ] && [ -w "$run" ] || fail "STEWARD_RUN_DIR: $run is not a directory the server may write"
data=/var/lib/steward/redis
mkdir -p "$data"
if [ ! -e "$data/users.acl" ]; then
  hash=$(printf '%s' "$password" | sha256sum | cut -d' ' -f1)
  printf 'user default reset off\nuser steward_admin reset on #%s ~* &* +@all\n' "$hash" >"$data/users.acl"
fi
# The settings the agent renders (managers/redis/config.ts) that the tests rely on.
exec redis-server --bind "$bind" --port "$port" --protected-mode yes --unixsocket "$run/redis.sock" --unixsocketperm 700 \
  --dir "$data" --aclfile "$data/users.acl" --daemonize no --appendonly yes --appendfsync everysec \
  --enable-debug-command no --enable-module-command no --enable-protected-configs no \
  --acl-pubsub-default resetchannels --maxmemory 96mb --maxmemory-policy noeviction
