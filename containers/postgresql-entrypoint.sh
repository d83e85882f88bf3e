#!/bin/sh
# Starts PostgreSQL 15 in a container (containers/postgresql.Containerfile).
# Settings come from the environment and are checked before anything uses them:
#   STEWARD_ADMIN_PASSWORD  the steward_admin role's password (required)
#   STEWARD_BIND            the address the server listens on (default 127.0.0.1)
#   STEWARD_PORT            its TCP port (default 5432)
#   STEWARD_RUN_DIR         the socket directory (default /run/steward; bind-mount
#                           it to reach the admin role from outside, as an agent does)
#   STEWARD_HBA_FILE        a pg_hba.conf to use instead of the one made here
#                           (a mounted file, so that an agent may rewrite it)
set -eu
. /usr/local/lib/steward/entrypoint-checks.sh
datastore_settings 5432
hba=${STEWARD_HBA_FILE:-/var/lib/steward/pg_hba.conf}
check STEWARD_HBA_FILE "$hba" '/[A-Za-z0-9._/-]{1,100}' 'an absolute path of A-Z a-z 0-9 . _ / -'
bin=/usr/lib/postgresql/15/bin
data=/var/lib/steward/postgresql
if [ ! -s "$data/PG_VERSION" ]; then
  # As the agent's prepare: UTF8 and the C.UTF-8 locale; the bootstrap superuser gets no password (root is off).
  "$bin/initdb" -D "$data" -U postgres --encoding=UTF8 --locale=C.UTF-8 --data-checksums --auth=reject >/dev/null
  echo "CREATE ROLE steward_admin SUPERUSER LOGIN PASSWORD '$password';" | "$bin/postgres" --single -D "$data" postgres >/dev/null
fi
if [ ! -e "$hba" ]; then
  # The lines the agent renders (managers/postgresql/hba.ts): the admin through the socket only, root refused over TCP.
  cat >"$hba" <<HBA
local   all   steward_admin                scram-sha-256
local   replication   steward_admin        scram-sha-256
host    all   steward_admin   all   reject
host    all   postgres        all   reject
host    all   all             all   scram-sha-256
HBA
fi
[ -r "$hba" ] || fail "STEWARD_HBA_FILE: $hba is not readable by the server"
exec "$bin/postgres" -D "$data" -c listen_addresses="$bind" -c port="$port" -c unix_socket_directories="$run" \
  -c hba_file="$hba" -c shared_buffers=32MB -c max_connections=50 -c password_encryption=scram-sha-256
