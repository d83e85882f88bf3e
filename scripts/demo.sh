#!/usr/bin/env bash
# The local demo: a controller plus one datastore instance on this machine, on
# embedded defaults (SQLite store, local provisioner, TLS with the controller's
# own CA). Prints how to connect, then waits; Ctrl-C deletes every cluster and
# instance the demo's controller holds (the demo's own and any made during it),
# then stops the controller.
#   npm run demo                    # MariaDB
#   npm run demo -- postgresql      # or redis
set -euo pipefail
cd "$(dirname "$0")/.."
DATASTORE="${1:-mysql}"
bash scripts/setup.sh

DATA_DIR="${STEWARD_DEMO_DIR:-$PWD/.steward/demo}"
API="${STEWARD_DEMO_LISTEN:-127.0.0.1:50051}"
AGENTS="${STEWARD_DEMO_AGENT_LISTEN:-127.0.0.1:50052}"
mkdir -p "$DATA_DIR"
LOG="$DATA_DIR/controller.log"

# Its own session: Ctrl-C in this terminal must reach this script (which then
# cleans up through the controller), not the controller itself.
setsid node dist/steward-controller.mjs --listen "$API" --agent-listen "$AGENTS" --data-dir "$DATA_DIR" >"$LOG" 2>&1 &
CONTROLLER=$!
export STEWARD_CONTROLLER="$API" STEWARD_CA_FILE="$DATA_DIR/pki/ca.pem"
ctl() { node dist/stewardctl.mjs "$@"; }

INSTANCE=""
# Ids of what the controller holds, one per line (from `stewardctl --json ... list`).
ids() { ctl --json "$1" list 2>/dev/null | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{try{for(const r of JSON.parse(s))console.log(r.id)}catch{}})"; }
cleanup() {
  trap - INT TERM EXIT
  echo
  if [ -n "${STEWARD_TOKEN:-}" ]; then
    # Everything this controller holds, not only the demo's instance: once it stops, nothing could manage them.
    for c in $(ids cluster); do echo "demo: deleting cluster $c"; ctl cluster delete "$c" >/dev/null || true; done
    for i in $(ids instance); do echo "demo: deleting instance $i"; ctl instance delete "$i" --wait >/dev/null || true; done
    left="$(ids instance)"
    if [ -n "$left" ]; then
      echo "demo: these instances could not be deleted and keep running: $left"
      echo "demo: restart the demo's controller (same --data-dir) and run: stewardctl instance delete <id> --wait"
    fi
  fi
  kill "$CONTROLLER" 2>/dev/null || true
  wait "$CONTROLLER" 2>/dev/null || true
  echo "demo: stopped (controller log: $LOG)"
}
trap cleanup INT TERM EXIT

for _ in $(seq 1 100); do
  [ -s "$DATA_DIR/admin.token" ] && grep -q "controller listening" "$LOG" && break
  kill -0 "$CONTROLLER" 2>/dev/null || { echo "demo: the controller did not start:"; cat "$LOG"; exit 1; }
  sleep 0.2
done
export STEWARD_TOKEN="$(cat "$DATA_DIR/admin.token")"

PASSWORD="$(node -e "process.stdout.write(require('crypto').randomBytes(12).toString('base64url'))")"
case "$DATASTORE" in
  mysql) create_args=(--database demo --user "demo:$PASSWORD@%") ;;
  postgresql) create_args=(--database demo --user "demo:$PASSWORD") ;;
  *) create_args=() ;;
esac
echo "demo: creating a $DATASTORE instance (controller on $API)"
INSTANCE="$(ctl --json instance create demo --datastore "$DATASTORE" --memory-mb 512 "${create_args[@]}" | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>process.stdout.write(JSON.parse(s).instance?.id ?? JSON.parse(s).id ?? ''))")"
for _ in $(seq 1 100); do
  ctl --json instance show "$INSTANCE" | grep -q '"DATASTORE_STATUS_HEALTHY"' && break
  sleep 0.3
done
ctl instance show "$INSTANCE"
# Each instance has a loopback address of its own, like a VM's IP: connect there, not to 127.0.0.1.
read -r HOST PORT < <(ctl --json instance show "$INSTANCE" | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const i=JSON.parse(s);console.log(i.host, i.port)})")

cat <<INFO

Steward is running.
  instance:   $INSTANCE ($DATASTORE on $HOST:$PORT)
INFO
case "$DATASTORE" in
  mysql) echo "  connect:    mariadb -h $HOST -P $PORT -u demo -p'$PASSWORD' demo" ;;
  postgresql) echo "  connect:    PGPASSWORD='$PASSWORD' psql -h $HOST -p $PORT -U demo demo" ;;
  redis) echo "  connect:    stewardctl root enable $INSTANCE, then redis-cli -h $HOST -p $PORT --user default --pass <password>" ;;
esac
cat <<INFO
  stewardctl: export STEWARD_CONTROLLER=$API STEWARD_CA_FILE=$STEWARD_CA_FILE STEWARD_TOKEN=\$(cat $DATA_DIR/admin.token)
              node dist/stewardctl.mjs user list $INSTANCE
              node dist/stewardctl.mjs backup create $INSTANCE    # then: instance create copy --datastore $DATASTORE --backup <id>

Press Ctrl-C to delete every instance and cluster of this controller and stop.
INFO
wait "$CONTROLLER"
