# Sourced by every entrypoint in containers/: settings come from the
# environment and each is checked before anything uses it.
# fail MESSAGE: stops the container with exit code 64 (a usage error).
fail() { echo "steward-entrypoint: $*" >&2; exit 64; }
# check NAME VALUE REGEX WHAT: one line (grep -x alone would judge each line of a value apart) matching REGEX.
check() {
  case $2 in *'
'*) fail "$1: one line only" ;; esac
  printf '%s' "$2" | grep -Eqx -- "$3" || fail "$1: $4"
}
# datastore_settings DEFAULT_PORT: what every datastore image takes, checked, into
# $password (STEWARD_ADMIN_PASSWORD, required), $bind (STEWARD_BIND, default
# 127.0.0.1), $port (STEWARD_PORT) and $run (STEWARD_RUN_DIR, default /run/steward).
datastore_settings() {
  password=${STEWARD_ADMIN_PASSWORD:-}
  bind=${STEWARD_BIND:-127.0.0.1}
  port=${STEWARD_PORT:-$1}
  run=${STEWARD_RUN_DIR:-/run/steward}
  # Only characters that need no quoting anywhere: the password goes into SQL and config files.
  check STEWARD_ADMIN_PASSWORD "$password" '[A-Za-z0-9._~-]{16,128}' '16 to 128 of A-Z a-z 0-9 . _ ~ -'
  check STEWARD_BIND "$bind" '([0-9]{1,3}\.){3}[0-9]{1,3}' 'an IPv4 address'
  check STEWARD_PORT "$port" '[1-9][0-9]{0,4}' 'a port number'
  [ "$port" -le 65535 ] || fail "STEWARD_PORT: a port number"
  check STEWARD_RUN_DIR "$run" '/[A-Za-z0-9._/-]{1,100}' 'an absolute path of A-Z a-z 0-9 . _ / -'
  [ -d "$run" ] && [ -w "$run" ] || fail "STEWARD_RUN_DIR: $run is not a directory the server may write"
}
