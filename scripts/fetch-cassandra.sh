#!/usr/bin/env bash
# Fetches the Apache Cassandra server (cassandra-all and every jar it needs at
# run time, jamm included) from Maven Central into a cache directory, for the
# cassandra datastore tests and local demos. Production uses Cassandra's own
# packages instead. Quick when the cache is already complete.
#
#   STEWARD_CASSANDRA_VERSION  default: the pom's cassandra.version (the newest 5.0.x when it was written)
#   STEWARD_CASSANDRA_HOME     where to put it; default /var/cache/steward/cassandra-<version>
#                              as root (the server runs as the `cassandra` user, which
#                              cannot read /root), else ~/.cache/steward/cassandra-<version>
#
# Prints the directory (its lib/ holds the jars) on the last line.
set -euo pipefail
cd "$(dirname "$0")/.."

pom=managers/cassandra/server/pom.xml
version="${STEWARD_CASSANDRA_VERSION:-$(sed -n 's:.*<cassandra.version>\(.*\)</cassandra.version>.*:\1:p' "$pom")}"
if [ -n "${STEWARD_CASSANDRA_HOME:-}" ]; then
  home="$STEWARD_CASSANDRA_HOME"
elif [ "$(id -u)" -eq 0 ]; then
  home="/var/cache/steward/cassandra-$version"
else
  home="${XDG_CACHE_HOME:-$HOME/.cache}/steward/cassandra-$version"
fi
lib="$home/lib"

# The marker is written last: a fetch cut short is redone, never half used.
if [ -f "$lib/.complete" ] && [ "$(cat "$lib/.complete")" = "$version" ]; then
  echo "$home"
  exit 0
fi

need=()
command -v mvn >/dev/null 2>&1 || need+=(maven)
# Cassandra 5.0 runs on Java 11 or 17 (not newer).
if ! ls /usr/lib/jvm/java-17-openjdk-*/bin/java >/dev/null 2>&1 && ! java -version 2>&1 | grep -q '"17\.'; then
  need+=(openjdk-17-jre-headless)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "fetch-cassandra: please install ${need[*]} (needs root)" >&2; exit 1; fi
  echo "fetch-cassandra: installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "fetch-cassandra: fetching Apache Cassandra $version into $lib" >&2
mkdir -p "$home"
tmp="$(mktemp -d "$home/.lib.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mvn -q -B -f "$pom" \
  -Dcassandra.version="$version" \
  dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >&2
ls "$tmp"/cassandra-all-"$version".jar "$tmp"/jamm-*.jar >/dev/null
echo "$version" > "$tmp/.complete"
rm -rf "$lib"
mv "$tmp" "$lib"
trap - EXIT
# The server's OS user reads the jars.
chmod 755 "$home" "$lib"
chmod 644 "$lib"/*.jar
echo "$home"
