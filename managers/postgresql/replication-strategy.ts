// How the controller reads PostgreSQL replication positions (LSNs, "X/Y"):
// no driver, no server; the orchestration side of the postgresql manager.
// An LSN is a byte position in the WAL that only grows, across timelines too
// (a promotion starts the new timeline where the old one was), so positions
// compare as numbers and their difference is the lag in bytes. What LSNs
// cannot show is a fork (a former primary that wrote after the promotion):
// rejoin finds that out and rewinds it.
import type { ReplicationStrategy } from '../sdk/replication.js';
import { isLsn, parseLsn } from './wal.js';

/** An empty position is "nothing written yet"; anything else that is not an LSN is unknown. */
const lsn = (p: string): bigint | undefined => (p === '' ? 0n : isLsn(p) ? parseLsn(p) : undefined);

export function compareLsn(a: string, b: string): number | undefined {
  const x = lsn(a);
  const y = lsn(b);
  if (x === undefined || y === undefined) return undefined;
  return x === y ? 0 : x < y ? -1 : 1;
}

/** Bytes from `behind` to `ahead`; 0 when `behind` is not behind (read a moment later than `ahead`). */
export function lsnDistance(ahead: string, behind: string): number | undefined {
  const x = lsn(ahead);
  const y = lsn(behind);
  if (x === undefined || y === undefined) return undefined;
  return x > y ? Number(x - y) : 0;
}

export const postgresqlReplication: ReplicationStrategy = {
  compare: compareLsn,
  distance: lsnDistance,
  // synchronous_standby_names = 'ANY 1 (...)': a commit returns once a replica has flushed it.
  synchronous: true,
  // A standby streams to standbys of its own (its slots and walsenders work in recovery).
  cascading: true,
  // A replica starts from pg_basebackup of its source, taken after its slot exists.
  seedFromBackup: true,
  lagUnit: 'bytes',
  // One WAL segment's worth.
  defaultMaxLag: 16 * 1024 * 1024,
};
