#!/bin/sh
# Starts MariaDB in a container (containers/mariadb.Containerfile). Settings
# come from the environment and are checked before anything uses them:
#   STEWARD_ADMIN_PASSWORD  steward_admin@localhost's password (required)
#   STEWARD_BIND            the address the server listens on (default 127.0.0.1)
#   STEWARD_PORT            its TCP port (default 3306)
#   STEWARD_RUN_DIR         where the socket goes (default /run/steward; bind-mount
#                           it to reach the admin account from outside, as an agent does)
set -eu
. /usr/local/lib/steward/entrypoint-checks.sh
datastore_settings 3306
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
