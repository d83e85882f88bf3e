// Where this instance stands in its replica set, from INFO replication and
// the remembered role (sdk/replication-state.ts: a writable Redis cannot say
// whether it is a standalone instance or a primary, nor whether it was fenced
// on purpose).
import type { ReplicationState } from '../sdk/replication-state.js';
import { ReplicationStatus, roleOf, type ReplicaEndpoint } from '../sdk/replication.js';
import { FENCED_MIN_REPLICAS } from './config.js';
import { info, type Session } from './connection.js';
import { formatPosition, positionOfInfo } from './replication-position.js';

/** What the server says about replication: INFO replication and whether it refuses writes by our fence. */
export interface ServerReplication {
  info: Record<string, string>;
  /** min-replicas-to-write is the fence's (config.ts). */
  fenced: boolean;
}

export async function serverReplication(s: Session, replicationInfo?: Record<string, string>): Promise<ServerReplication> {
  const r = replicationInfo ?? (await info(s, 'replication'));
  const reply = await s.call('CONFIG', 'GET', 'min-replicas-to-write');
  const value = Array.isArray(reply) ? Number(String(reply[1])) : 0;
  return { info: r, fenced: value >= FENCED_MIN_REPLICAS };
}

/** "slave0:ip=10.0.0.5,port=6379,state=online,offset=123,lag=0" lines: the replicas connected now. */
function connectedReplicas(r: Record<string, string>): ReplicaEndpoint[] {
  const out: ReplicaEndpoint[] = [];
  for (let i = 0; r[`slave${i}`] !== undefined; i++) {
    const fields = new Map(r[`slave${i}`].split(',').map((kv) => kv.split('=') as [string, string]));
    out.push({ name: '', host: fields.get('ip') ?? '' });
  }
  return out;
}

const num = (v: string | undefined): number => (v === undefined || v === '' ? Number.NaN : Number(v));

/** Why a replica is not streaming from its source, or ''. */
function replicaError(r: Record<string, string>, st: ReplicationState): string {
  if (r.role !== 'slave') return 'not configured to follow a source';
  if (r.master_link_status === 'up') return '';
  const where = `${r.master_host ?? st.source?.host}:${r.master_port ?? st.source?.port}`;
  if (r.master_sync_in_progress === '1') return `full synchronisation from ${where} in progress`;
  const since = num(r.master_link_down_since_seconds);
  return `the link to ${where} is down${since >= 0 ? ` (for ${since} s)` : ''}: see the server log`;
}

export function toStatus(st: ReplicationState, server: ServerReplication): ReplicationStatus {
  const r = server.info;
  const position = positionOfInfo(r);
  const base = ReplicationStatus.fromPartial({
    role: roleOf(st.role),
    position: position ? formatPosition(position) : '',
    lagSeconds: -1,
    fenced: st.fenced,
    readOnly: (r.role === 'slave' && r.slave_read_only === '1') || server.fenced,
    synchronous: false,
    replicas: connectedReplicas(r),
  });
  if (st.role !== 'replica') {
    const errors = [
      r.role === 'slave' ? `the server follows ${r.master_host}:${r.master_port} though this instance is the ${st.role}` : '',
      st.fenced && !server.fenced && r.role !== 'slave' ? 'fenced, but the server takes writes (min-replicas-to-write was changed)' : '',
    ].filter(Boolean);
    return { ...base, error: errors.join('; ') };
  }
  const connected = r.role === 'slave' && r.master_link_status === 'up';
  const applied = num(r.slave_repl_offset);
  const read = num(r.slave_read_repl_offset);
  const ioAgo = num(r.master_last_io_seconds_ago);
  return {
    ...base,
    // Redis applies what it reads as soon as a whole command has arrived: there is no
    // relay log of received-but-unapplied writes for a promotion to wait for.
    received: base.position,
    sourceHost: r.master_host ?? st.source?.host ?? '',
    connected,
    // A replica does not know its source's offset (the controller compares both positions):
    // this is only what it has read and not yet applied.
    lagBytes: connected && read > applied ? read - applied : 0,
    // Seconds since the source last sent anything (it pings at least every 10 s): an upper bound while connected.
    lagSeconds: connected && ioAgo >= 0 ? ioAgo : -1,
    error: replicaError(r, st),
  };
}

export async function readStatus(s: Session, st: ReplicationState, replicationInfo?: Record<string, string>): Promise<ReplicationStatus> {
  return toStatus(st, await serverReplication(s, replicationInfo));
}
