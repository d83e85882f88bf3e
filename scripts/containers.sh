#!/usr/bin/env bash
# Steward's container engine and images, made from Debian's packages only:
# there is no image registry, so every image is built here from a debootstrap
# root (scripts/debian-root.sh image-base) and nothing is ever pulled.
#   bash scripts/containers.sh setup
#       base and datastore images, the engine started for them (set-up runs this);
#       an engine that was not running is stopped again
#   bash scripts/containers.sh engine [--for PID]
#       starts the engine unless it runs; prints its DOCKER_HOST. --for: process
#       PID uses it (test runs), so that `stop --for` leaves it to the others
#   bash scripts/containers.sh image NAME [DIR]
#       builds image NAME unless built from the same inputs; prints its tag.
#       NAME: base, mariadb, postgresql, redis; controller (the top-level
#       Dockerfile) and agent-mariadb take DIR, the .debs of scripts/package.mjs
#   bash scripts/containers.sh stop [--for PID]
#       removes every container and stops the engine, unless a live process
#       other than PID registered with `engine --for`
# The engine is Debian's docker.io dockerd on its own socket, with its data
# (images, build cache) under $STEWARD_CACHE/engine (default /var/cache/steward).
# It runs without a bridge or iptables rules: containers use the host's network
# (each server on its own loopback port) or none. An image's tag is a hash of
# everything it is built from, so changed inputs make a new image and the old
# one is removed.
# STEWARD_DOCKER_HOST=unix:///... uses a Docker engine of your own instead
# (on Linux: containers still use the host's network); it is never started or
# stopped here, and the images are built in it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${STEWARD_CACHE:-/var/cache/steward}
engine=$cache/engine
sock=$engine/docker.sock
docker=/usr/bin/docker # Debian's client, of the engine's own version
[ -x $docker ] || docker=docker
export DOCKER_HOST=${STEWARD_DOCKER_HOST:-unix://$sock}

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }
fail() { echo "containers: $*" >&2; exit 1; }

running() { $docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

start_engine() {
  if [ -n "${STEWARD_DOCKER_HOST:-}" ]; then
    running || fail "no engine answers at STEWARD_DOCKER_HOST=$STEWARD_DOCKER_HOST"
    mkdir -p "$engine"
    return 0
  fi
  command -v dockerd >/dev/null || fail "dockerd is not installed (the docker.io package; see scripts/setup.sh)"
  [ "$(id -u)" -eq 0 ] || fail "the engine needs root"
  mkdir -p "$engine"
  # One starter at a time: test files ask for the engine in parallel.
  exec 9>"$engine/lock"
  flock 9
  if ! running; then
    rm -f "$sock"
    # setsid: the engine outlives the set-up or test process that started it; the suite's teardown stops it.
    setsid dockerd --host "$DOCKER_HOST" --data-root "$engine/data" --exec-root "$engine/run" \
      --pidfile "$engine/dockerd.pid" --iptables=false --ip-masq=false --bridge=none \
      --userland-proxy=false --log-level=warn </dev/null >>"$engine/dockerd.log" 2>&1 &
    for _ in $(seq 1 100); do
      running && break
      kill -0 $! 2>/dev/null || { tail -5 "$engine/dockerd.log" >&2; fail "dockerd exited"; }
      sleep 0.2
    done
    running || { tail -5 "$engine/dockerd.log" >&2; fail "dockerd did not answer on $sock"; }
  fi
  flock -u 9
}

# Test runs say which of their processes use the engine, so that one run ending does not stop it under another.
register() { mkdir -p "$engine/users" && : >"$engine/users/$1"; }

# True when a live process other than $1 registered as a user.
others() {
  local f found=1
  for f in "$engine"/users/*; do
    [ -e "$f" ] || continue
    if [ "${f##*/}" != "$1" ] && kill -0 "${f##*/}" 2>/dev/null; then found=0; else rm -f "$f"; fi
  done
  return $found
}

stop_engine() {
  [ -z "${STEWARD_DOCKER_HOST:-}" ] || return 0
  [ -e "$engine/dockerd.pid" ] || return 0
  local pid
  pid=$(cat "$engine/dockerd.pid" 2>/dev/null || true)
  if running; then
    local ids
    ids=$($docker ps -aq)
    # -v: their anonymous volumes too (named ones are kept: they hold what someone chose to keep).
    [ -z "$ids" ] || $docker rm -f -v $ids >/dev/null 2>&1 || true
  fi
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  # Mounts an engine that did not end cleanly may leave (namespaces, layers): nothing of it stays in use.
  awk -v dir="$engine/" 'index($2, dir) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" || true; done
  rm -f "$sock"
}

# A short hash of files' names and contents.
hash_files() { (cd "$here" && sha256sum "$@") | sha256sum | cut -c1-12; }

# Builds steward-$1:$2 from Containerfile $4 in context $3 unless it exists; removes older tags of steward-$1.
build() {
  local name=$1 tag=$2 context=$3 file=$4
  shift 4
  if ! $docker image inspect "steward-$name:$tag" >/dev/null 2>&1; then
    echo "containers: building steward-$name:$tag" >&2
    # The host's network: the engine has no bridge, and apt needs the mirror.
    $docker build --network host --pull=false -q -f "$file" \
      -t "steward-$name:$tag" "$@" "$context" >/dev/null
  fi
  local old
  old=$($docker image ls "steward-$name" --format '{{.Repository}}:{{.Tag}}' | grep -vx "steward-$name:$tag" || true)
  [ -z "$old" ] || $docker rmi $old >/dev/null 2>&1 || true
  # Layers of failed or replaced builds.
  $docker image prune -f >/dev/null 2>&1 || true
  echo "steward-$name:$tag"
}

image() {
  local name=$1
  case $name in
    base)
      local root tag
      root=$(bash "$here/scripts/debian-root.sh" image-base)
      tag=${root##*-}
      if ! $docker image inspect "steward-base:$tag" >/dev/null 2>&1; then
        echo "containers: importing steward-base:$tag" >&2
        tar -C "$root" --numeric-owner -c . | $docker import - "steward-base:$tag" >/dev/null
      fi
      echo "steward-base:$tag"
      ;;
    mariadb | postgresql | redis)
      local base tag
      base=$(image base)
      tag=$(printf '%s\n' "$base" "$(hash_files containers/$name.Containerfile containers/$name-entrypoint.sh containers/entrypoint-checks.sh)" | sha256sum | cut -c1-12)
      build "$name" "$tag" "$here/containers" "$here/containers/$name.Containerfile" --build-arg "BASE=$base"
      ;;
    controller | agent-mariadb)
      local dir=${2:-} base tag ctx file pkg=steward-agent
      [ -n "$dir" ] && [ -d "$dir" ] || fail "image $name needs the directory of the .debs (node scripts/package.mjs --out DIR)"
      [ "$name" = controller ] && pkg=steward-controller
      # The controller's is the top-level Dockerfile; both build from the top of the tree (.dockerignore).
      file=containers/$name.Containerfile
      [ "$name" = controller ] && file=Dockerfile
      local deb
      deb=$(ls "$dir"/"$pkg"_*.deb 2>/dev/null | sort -V | tail -1)
      [ -n "$deb" ] || fail "no $pkg .deb in $dir"
      base=$(image base)
      tag=$(printf '%s\n' "$base" "$(sha256sum <"$deb")" \
        "$(hash_files "$file" containers/entrypoint-checks.sh $(cd "$here" && ls containers/"$name"-*))" | sha256sum | cut -c1-12)
      # A context laid out as the tree is, with only this .deb: whatever else is in DIR stays out.
      ctx=$(mktemp -d)
      mkdir -p "$ctx/build/packages" "$ctx/containers"
      cp "$deb" "$ctx/build/packages/"
      cp "$here/containers/$name"-* "$here/containers/entrypoint-checks.sh" "$ctx/containers/"
      local built=0
      build "$name" "$tag" "$ctx" "$here/$file" --build-arg "BASE=$base" || built=$?
      rm -rf "$ctx"
      return $built
      ;;
    *) fail "unknown image '$name' (see --help)" ;;
  esac
}

case ${1:-} in
  setup)
    # Started for the builds and stopped again if it was not running: nothing is left running after
    # set-up (npm run demo runs it too); the tests start it again in a moment when they need it.
    was_running=0
    running && was_running=1
    start_engine
    exec 8>"$engine/build.lock"
    flock 8
    for name in mariadb postgresql redis; do image "$name" >/dev/null; done
    [ $was_running -eq 1 ] || stop_engine
    echo "$DOCKER_HOST"
    ;;
  engine)
    start_engine
    if [ "${2:-}" = --for ]; then
      printf '%s' "${3:-}" | grep -Eqx '[1-9][0-9]{0,9}' || fail "--for: a process id"
      register "$3"
    fi
    echo "$DOCKER_HOST"
    ;;
  image)
    [ $# -ge 2 ] || { usage; exit 2; }
    start_engine
    # One build at a time: test files ask for images in parallel, and a build's cleanup must not meet another build.
    exec 8>"$engine/build.lock"
    flock 8
    image "$2" "${3:-}"
    ;;
  stop)
    if [ "${2:-}" = --for ]; then
      printf '%s' "${3:-}" | grep -Eqx '[1-9][0-9]{0,9}' || fail "--for: a process id"
      if others "$3"; then
        echo "containers: engine left running for another test run ($(ls "$engine/users" | tr '\n' ' '))" >&2
        exit 0
      fi
    fi
    stop_engine
    rm -rf "$engine/users"
    ;;
  --help | -h | '') usage ;;
  *) usage >&2; exit 2 ;;
esac
