#!/usr/bin/env bash
# A Debian 12 (bookworm) root made by debootstrap from Debian's packages, for
# the project's own tests. Cached under $STEWARD_CACHE (default
# /var/cache/steward) by its name and package list, so it is made once per
# machine and again only when the list changes. Prints the root's path.
#   bash scripts/debian-root.sh PROFILE
# Profiles:
#   systemd-host  a database VM: systemd as init, MariaDB from Debian (the
#                 systemd install test boots it with systemd-nspawn)
# Debian's own units of the datastore servers are masked in the root: Steward
# runs its servers in units of its own, and the root shares the host's network.
set -euo pipefail
if [ $# -ne 1 ] || [ "$1" = --help ]; then
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
name=$1
case $name in
  systemd-host) set -- systemd systemd-sysv dbus adduser procps iproute2 mariadb-server mariadb-client mariadb-backup ;;
  image-base) set -- tini ;;
  *) echo "debian-root: unknown profile '$name' (see --help)" >&2; exit 2 ;;
esac
cache=${STEWARD_CACHE:-/var/cache/steward}
suite=bookworm
mirror=${STEWARD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
key=$(printf '%s\n' "$suite" "$@" | sha256sum | cut -c1-12)
dir=$cache/root-$name-$key
if [ -e "$dir/.steward-root" ]; then
  echo "$dir"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "debian-root: debootstrap is not installed" >&2; exit 1; }
mkdir -p "$cache"
tmp=$dir.tmp-$$
trap 'rm -rf "$tmp" "$tmp.log"' EXIT
include=$(IFS=,; echo "$*")
echo "debian-root: making $name ($suite: ${include:-base}) once" >&2
if ! debootstrap --variant=minbase ${include:+--include="$include"} "$suite" "$tmp" "$mirror" >"$tmp.log" 2>&1; then
  tail -20 "$tmp.log" >&2
  exit 1
fi
for unit in mariadb.service mariadb@.service mysql.service postgresql.service postgresql@.service redis-server.service redis-server@.service; do
  ln -sf /dev/null "$tmp/etc/systemd/system/$unit"
done
# No console login waiting on the container's terminal.
ln -sf /dev/null "$tmp/etc/systemd/system/console-getty.service"
rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*
printf '%s\n' "$suite" "$@" >"$tmp/.steward-root"
if ! mv -T "$tmp" "$dir" 2>/dev/null; then
  # Another run finished first: use its root.
  [ -e "$dir/.steward-root" ] || { echo "debian-root: could not move $tmp into place" >&2; exit 1; }
fi
echo "$dir"
