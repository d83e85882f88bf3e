#!/bin/sh
# Starts Redis 7 in a container (containers/redis.Containerfile). Settings come
# from the environment and are checked before anything uses them:
#   STEWARD_ADMIN_PASSWORD  steward_admin's password (required; only its SHA-256 is stored)
#   STEWARD_BIND            the address the server listens on (default 127.0.0.1)
#   STEWARD_PORT            its TCP port (default 6379)
#   STEWARD_RUN_DIR         where the socket goes (default /run/steward; bind-mount
#                           it to reach the admin account from outside, as an agent does)
set -eu
. /usr/local/lib/steward/entrypoint-checks.sh
datastore_settings 6379
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
