#!/bin/sh
# Starts the agent in its container (containers/agent-mariadb.Containerfile).
# A config mounted at /etc/steward/agent.yaml is used as it is; otherwise one
# is made from the environment (checked first: the values go into YAML):
#   STEWARD_AGENT_INSTANCE_ID       the instance (stewardctl instance create --no-wait) (required)
#   STEWARD_AGENT_CONTROLLER        the controller's agent gateway, host:port (required)
#   STEWARD_AGENT_ENROLL_ADDRESS    its API port, host:port, used once to enroll (required)
#   STEWARD_AGENT_ENROLLMENT_TOKEN  the one-time token (stewardctl instance enrollment-token);
#                                   read by the agent itself, never written to disk here
#   STEWARD_AGENT_CA_PEM            the controller's CA certificate, unless mounted at /etc/steward/ca.pem
#   STEWARD_AGENT_ADVERTISE         where clients reach the database (required)
#   STEWARD_AGENT_BIND, STEWARD_AGENT_PORT          the server's address (default 0.0.0.0:3306)
#   STEWARD_AGENT_MEMORY_MB                         its memory (default 512)
#   STEWARD_AGENT_HEARTBEAT_INTERVAL_MS             how often the agent reports (default 10000)
#   STEWARD_AGENT_HEALTH_PORT                       the agent's /healthz on 127.0.0.1 (default 9187)
set -eu
. /usr/local/lib/steward/entrypoint-checks.sh
config=/etc/steward/agent.yaml
if [ ! -e "$config" ]; then
  check STEWARD_AGENT_INSTANCE_ID "${STEWARD_AGENT_INSTANCE_ID:-}" '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' 'an instance id'
  check STEWARD_AGENT_CONTROLLER "${STEWARD_AGENT_CONTROLLER:-}" '[A-Za-z0-9.-]{1,253}:[0-9]{1,5}' 'host:port'
  check STEWARD_AGENT_ENROLL_ADDRESS "${STEWARD_AGENT_ENROLL_ADDRESS:-}" '[A-Za-z0-9.-]{1,253}:[0-9]{1,5}' 'host:port'
  check STEWARD_AGENT_ADVERTISE "${STEWARD_AGENT_ADVERTISE:-}" '[A-Za-z0-9.-]{1,253}' 'a host name or address'
  bind=${STEWARD_AGENT_BIND:-0.0.0.0}
  port=${STEWARD_AGENT_PORT:-3306}
  memory=${STEWARD_AGENT_MEMORY_MB:-512}
  heartbeat=${STEWARD_AGENT_HEARTBEAT_INTERVAL_MS:-10000}
  health=${STEWARD_AGENT_HEALTH_PORT:-9187}
  check STEWARD_AGENT_BIND "$bind" '([0-9]{1,3}\.){3}[0-9]{1,3}' 'an IPv4 address'
  for v in "STEWARD_AGENT_PORT=$port" "STEWARD_AGENT_HEALTH_PORT=$health"; do
    check "${v%%=*}" "${v#*=}" '[1-9][0-9]{0,4}' 'a port number'
    [ "${v#*=}" -le 65535 ] || fail "${v%%=*}: a port number"
  done
  check STEWARD_AGENT_MEMORY_MB "$memory" '[1-9][0-9]{1,6}' 'megabytes'
  check STEWARD_AGENT_HEARTBEAT_INTERVAL_MS "$heartbeat" '[1-9][0-9]{2,6}' 'milliseconds, 100 or more'
  if [ -n "${STEWARD_AGENT_CA_PEM:-}" ]; then
    # Certificates only: the file is all the agent trusts.
    printf '%s\n' "$STEWARD_AGENT_CA_PEM" | grep -Evx -- '-----(BEGIN|END) CERTIFICATE-----|[A-Za-z0-9+/=]{1,76}' | grep -q . &&
      fail "STEWARD_AGENT_CA_PEM: not PEM certificates"
    printf '%s\n' "$STEWARD_AGENT_CA_PEM" | grep -qx -- '-----BEGIN CERTIFICATE-----' || fail "STEWARD_AGENT_CA_PEM: not PEM certificates"
    printf '%s\n' "$STEWARD_AGENT_CA_PEM" >/etc/steward/ca.pem
  fi
  [ -s /etc/steward/ca.pem ] || fail "no controller CA: mount it at /etc/steward/ca.pem or set STEWARD_AGENT_CA_PEM"
  umask 077
  config=/var/lib/steward-agent/agent.yaml
  cat >"$config" <<YAML
instanceId: $STEWARD_AGENT_INSTANCE_ID
datastore: mysql
controller:
  address: $STEWARD_AGENT_CONTROLLER
  enrollAddress: $STEWARD_AGENT_ENROLL_ADDRESS
  caFile: /etc/steward/ca.pem
stateDir: /var/lib/steward-agent
serviceControl: process
bindAddress: $bind
port: $port
advertiseAddress: $STEWARD_AGENT_ADVERTISE
memoryMb: $memory
heartbeatIntervalMs: $heartbeat
health:
  host: 127.0.0.1
  port: $health
YAML
fi
exec /usr/bin/steward-agent --config "$config"
