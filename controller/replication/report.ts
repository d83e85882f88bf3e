// An agent's replication report, parsed once where it arrives (the gateway
// stores it as JSON of the proto message) and read as a typed record by every
// decision: failover, candidate choice, lag in `instance show`.
import { ReplicationRole, ReplicationStatus } from '../../proto/gen/steward/v1/replication.js';
import { DatastoreStatus } from '../../proto/gen/steward/v1/common.js';
import { isLost } from '../agent-registry.js';
import type { AgentsTable } from '../store/schema.js';

export interface MemberReport {
  instanceId: string;
  /** The datastore's status as the agent probed it. */
  status: DatastoreStatus;
  /** A heartbeat came within the lost-agent window. */
  alive: boolean;
  lastHeartbeatAt: string | null;
  writeLeaseMs: number;
  replication?: ReplicationStatus;
}

export const encodeReplication = (r: ReplicationStatus | undefined): string | null => (r ? JSON.stringify(ReplicationStatus.toJSON(r)) : null);

export function decodeReplication(json: string | null): ReplicationStatus | undefined {
  if (!json) return undefined;
  try {
    return ReplicationStatus.fromJSON(JSON.parse(json));
  } catch {
    return undefined; // a damaged row says nothing
  }
}

export function memberReport(instanceId: string, agent: AgentsTable | undefined, missedHeartbeats: number, now = Date.now()): MemberReport {
  return {
    instanceId,
    status: agent?.status ?? DatastoreStatus.UNKNOWN,
    alive: !!agent?.last_heartbeat_at && !isLost(agent.last_heartbeat_at, agent.heartbeat_interval_ms, missedHeartbeats, now),
    lastHeartbeatAt: agent?.last_heartbeat_at ?? null,
    writeLeaseMs: agent?.write_lease_ms ?? 0,
    replication: decodeReplication(agent?.replication ?? null),
  };
}

/** The datastore serves (HEALTHY, or RUNNING with an answer). */
export const serving = (r: MemberReport): boolean => r.status === DatastoreStatus.HEALTHY;

/** The datastore is down by the agent's own account (its server crashed or stopped). */
export const serverDown = (r: MemberReport): boolean => r.alive && (r.status === DatastoreStatus.CRASHED || r.status === DatastoreStatus.SHUTDOWN);

export const isPrimaryReport = (r: ReplicationStatus | undefined): boolean => r?.role === ReplicationRole.PRIMARY;
