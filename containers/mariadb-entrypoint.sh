#!/bin/sh
# Starts MariaDB in a container (containers/mariadb.Containerfile). Settings
# come from the environment and are checked before anything uses them:
#   STEWARD_ADMIN_PASSWORD  steward_admin@localhost's password (required)
#   STEWARD_BIND            the address the server listens on (default 127.0.0.1)
#   STEWARD_PORT            its TCP port (default 3306)
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
port=${STEWARD_PORT:-3306}
run=${STEWARD_RUN_DIR:-/run/steward}
# Only characters that need no quoting anywhere: the password goes into SQL below.
check STEWARD_ADMIN_PASSWORD "$password" '[A-Za-z0-9._~-]{16,128}' '16 to 128 of A-Z a-z 0-9 . _ ~ -'
check STEWARD_BIND "$bind" '([0-9]{1,3}\.){3}[0-9]{1,3}' 'an IPv4 address'
check STEWARD_PORT "$port" '[1-9][0-9]{0,4}' 'a port number'
[ "$port" -le 65535 ] || fail "STEWARD_PORT: a port number"
check STEWARD_RUN_DIR "$run" '/[A-Za-z0-9._/-]{1,80}' 'an absolute path of A-Z a-z 0-9 . _ / -'
[ -d "$run" ] && [ -w "$run" ] || fail "STEWARD_RUN_DIR: $run is not a directory the server may write"
data=/var/lib/steward/mariadb
if [ ! -d "$data/mysql" ]; then
  mariadb-install-db --no-defaults --datadir="$data" --skip-test-db --auth-root-authentication-method=socket >/dev/null
  # What the agent's prepare does: no anonymous or remote root, and its own admin account.
  mariadbd --no-defaults --datadir="$data" --bootstrap --skip-networking --log-error="$data/bootstrap.err" <<SQL
FLUSH PRIVILEGES;
DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost');
DROP DATABASE IF EXISTS test;
DELETE FROM mysql.proxies_priv WHERE Host <> 'localhost';
FLUSH PRIVILEGES;
CREATE USER 'steward_admin'@'localhost' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON *.* TO 'steward_admin'@'localhost' WITH GRANT OPTION;
SQL
fi
exec mariadbd --no-defaults --datadir="$data" --bind-address="$bind" --port="$port" --socket="$run/mysqld.sock" \
  --pid-file="$data/mysqld.pid" --skip-name-resolve --character-set-server=utf8mb4 --local-infile=0 --innodb-buffer-pool-size=64M
