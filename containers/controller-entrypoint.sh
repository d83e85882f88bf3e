#!/bin/sh
# Starts the controller in its container (containers/controller.Containerfile).
# A config mounted at /etc/steward/controller.yaml is used as it is; otherwise
# one is made from the environment (checked first: the values go into YAML):
#   STEWARD_LISTEN                public API and enrollment, host:port (default 0.0.0.0:50051)
#   STEWARD_AGENT_LISTEN          agent gateway, host:port (default 0.0.0.0:50052)
#   STEWARD_SERVER_NAMES          more names for the TLS certificate, comma-separated
#   STEWARD_HEARTBEAT_INTERVAL_MS how often agents report (default 10000)
# Agents are external: each enrolls from its own machine or container with a
# one-time token (stewardctl instance enrollment-token). Arguments are passed
# to steward-controller.
set -eu
. /usr/local/lib/steward/entrypoint-checks.sh
config=/etc/steward/controller.yaml
if [ ! -e "$config" ]; then
  listen=${STEWARD_LISTEN:-0.0.0.0:50051}
  agent_listen=${STEWARD_AGENT_LISTEN:-0.0.0.0:50052}
  names=${STEWARD_SERVER_NAMES:-}
  heartbeat=${STEWARD_HEARTBEAT_INTERVAL_MS:-10000}
  check STEWARD_LISTEN "$listen" '[A-Za-z0-9.-]{1,253}:[0-9]{1,5}' 'not a host:port'
  check STEWARD_AGENT_LISTEN "$agent_listen" '[A-Za-z0-9.-]{1,253}:[0-9]{1,5}' 'not a host:port'
  [ -z "$names" ] || check STEWARD_SERVER_NAMES "$names" '[A-Za-z0-9.-]{1,253}(,[A-Za-z0-9.-]{1,253}){0,31}' 'host names or addresses, comma-separated'
  check STEWARD_HEARTBEAT_INTERVAL_MS "$heartbeat" '[1-9][0-9]{2,6}' 'milliseconds, 100 or more'
  config=/run/steward-controller/controller.yaml
  cat >"$config" <<YAML
listen: $listen
agentListen: $agent_listen
serverNames: [$names]
dataDir: /var/lib/steward-controller
provisioner:
  kind: external
  heartbeatIntervalMs: $heartbeat
YAML
fi
exec /usr/bin/steward-controller --config "$config" "$@"
