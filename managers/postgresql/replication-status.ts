// Where replication stands, as the server says it (what every replication
// operation answers and what the probe reports in a replica set):
//   primary  position = pg_current_wal_lsn(); the replicas streaming from it
//            (pg_stat_replication), synchronous once one of them is a
//            synchronous (quorum) standby;
//   replica  position = what it has applied (pg_last_wal_replay_lsn),
//            received = what it has flushed from its source, connected while
//            its WAL receiver streams from that source (and it has not gone
//            past the source's fork, timeline-fork.ts); lag in bytes is from what it applied to
//            the end of the source's WAL as the source last told it, lag in
//            seconds 0 when nothing is left to apply.
// The role is the one the agent remembers (a writable server cannot tell a
// standalone instance from a primary); whether the server is a standby is
// asked.
import type { ReplicationState } from '../sdk/replication-state.js';
import { ReplicationStatus, roleOf } from '../sdk/replication.js';
import { select, type Session } from './connection.js';
import { pastFork } from './timeline-fork.js';
import { parseLsn } from './wal.js';

/** The later of two LSNs (either may be missing). */
export function laterLsn(a: string | null | undefined, b: string | null | undefined): string {
  if (!a) return b ?? '';
  if (!b) return a;
  return parseLsn(a) >= parseLsn(b) ? a : b;
}

/** Bytes from `behind` up to `ahead`, 0 when not behind or unknown. */
const bytesBehind = (ahead: string, behind: string): number =>
  ahead && behind && parseLsn(ahead) > parseLsn(behind) ? Number(parseLsn(ahead) - parseLsn(behind)) : 0;

export const inRecovery = async (s: Session): Promise<boolean> => (await select<{ r: boolean }>(s, 'SELECT pg_is_in_recovery() AS r'))[0].r;

interface StandbyRow {
  replayed: string | null;
  received: string | null;
  paused: boolean;
  behind: number | null;
  receiver: string | null;
  sender: string | null;
  sender_port: number | null;
  source_end: string | null;
}

async function primaryStatus(s: Session, st: ReplicationState, base: ReplicationStatus): Promise<ReplicationStatus> {
  const [p] = await select<{ lsn: string; names: string }>(
    s,
    "SELECT pg_current_wal_lsn()::text AS lsn, current_setting('synchronous_standby_names') AS names",
  );
  const rows = await select<{ name: string; host: string | null; state: string; sync: string }>(
    s,
    'SELECT application_name AS name, host(client_addr) AS host, state, sync_state AS sync FROM pg_stat_replication ORDER BY application_name',
  );
  return {
    ...base,
    position: p.lsn,
    synchronous: st.synchronous && p.names !== '' && rows.some((r) => r.sync === 'sync' || r.sync === 'quorum'),
    replicas: rows.filter((r) => r.state === 'streaming').map((r) => ({ name: r.name, host: r.host ?? '' })),
    // A replica by the agent's record that takes writes: it was promoted behind the agent's back, or a rejoin is under way.
    error: st.role === 'replica' ? 'this server is not a standby: it does not follow its source' : '',
  };
}

async function standbyStatus(s: Session, st: ReplicationState, base: ReplicationStatus): Promise<ReplicationStatus> {
  const [r] = await select<StandbyRow>(
    s,
    `SELECT pg_last_wal_replay_lsn()::text AS replayed, pg_last_wal_receive_lsn()::text AS received,
            pg_is_wal_replay_paused() AS paused,
            extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS behind,
            w.status AS receiver, w.sender_host AS sender, w.sender_port, w.latest_end_lsn::text AS source_end
       FROM (SELECT 1) one LEFT JOIN pg_stat_wal_receiver w ON true`,
  );
  const position = r.replayed ?? '';
  const received = laterLsn(r.received, position);
  // Streaming from the source it was told to follow (just after a re-point, the old one may still be streaming for a moment).
  const fromSource = !st.source || (r.sender === st.source.host && r.sender_port === st.source.port);
  // Past the fork of its source's timeline, the WAL receiver keeps streaming the old timeline's last segment, for nothing.
  const fork = await pastFork(s);
  const connected = r.receiver === 'streaming' && fromSource && !fork;
  const lagBytes = bytesBehind(laterLsn(received, r.source_end), position);
  const source = st.source ? `${st.source.host}:${st.source.port}` : 'no source';
  const errors = [
    connected
      ? ''
      : `not streaming from ${source}${r.receiver ? ` (WAL receiver ${r.receiver}${fromSource ? '' : ` from ${r.sender}:${r.sender_port}`})` : ''}`,
    r.paused ? 'WAL replay is paused' : '',
  ].filter(Boolean);
  return {
    ...base,
    position,
    received,
    sourceHost: r.sender ?? st.source?.host ?? '',
    connected,
    lagBytes,
    // Caught up is 0 s behind however long ago the last transaction was; not streaming, the source's end is unknown.
    lagSeconds: connected && lagBytes === 0 ? 0 : r.behind === null ? -1 : Math.max(0, r.behind),
    synchronous: st.synchronous && connected,
    error: errors.join('; '),
  };
}

export async function readStatus(s: Session, st: ReplicationState): Promise<ReplicationStatus> {
  const [r] = await select<{ recovery: boolean; readonly: string }>(
    s,
    "SELECT pg_is_in_recovery() AS recovery, current_setting('default_transaction_read_only') AS readonly",
  );
  const base = ReplicationStatus.fromPartial({
    role: roleOf(st.role),
    lagSeconds: -1,
    readOnly: r.recovery || r.readonly === 'on',
    fenced: st.fenced,
    synchronous: false,
  });
  return r.recovery ? standbyStatus(s, st, base) : primaryStatus(s, st, base);
}
