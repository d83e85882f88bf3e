// Whether a standby went past the point where its new source's timeline
// forked off its own. A replica re-pointed to a newly promoted primary
// follows the new timeline only if it has not applied WAL of the old one
// beyond the fork: in a switchover the fenced old primary still streams to
// the other replicas for a moment after the candidate has stopped listening
// (a checkpoint, a standby snapshot, autovacuum write WAL without any client),
// and such a replica can never stream from the new primary: it is rewound.
//
// The signs are in the standby's pg_wal: the WAL receiver fetches the new
// source's timeline history file (<tli>.history: "parent tli, switchpoint,
// reason" per line) before the source refuses the old timeline's position;
// the standby's own timeline is that of the newest segments it holds.
import { select, type Session } from './connection.js';
import { isLsn, parseLsn } from './wal.js';

export interface HistoryEntry {
  parent: number;
  switchpoint: string;
}

/** The lines of a timeline history file (comments and blank lines skipped). */
export function parseHistory(text: string): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  for (const line of text.split('\n')) {
    const [tli, lsn] = line.trim().split(/\s+/);
    if (!/^\d+$/.test(tli ?? '') || !isLsn(lsn)) continue;
    out.push({ parent: Number(tli), switchpoint: lsn });
  }
  return out;
}

const SEGMENT = /^([0-9A-F]{8})[0-9A-F]{16}$/;
const HISTORY = /^([0-9A-F]{8})\.history$/;

/** Why this standby cannot follow the newest timeline it knows of, or undefined when nothing says it cannot. */
export async function pastFork(s: Session): Promise<string | undefined> {
  const names = (await select<{ name: string }>(s, 'SELECT name FROM pg_ls_waldir()')).map((r) => r.name);
  const tli = (re: RegExp) =>
    names
      .map((n) => re.exec(n)?.[1])
      .filter((x): x is string => !!x)
      .map((x) => Number.parseInt(x, 16));
  const own = Math.max(0, ...tli(SEGMENT));
  const newer = tli(HISTORY).filter((t) => t > own);
  if (!own || !newer.length) return undefined;
  const newest = Math.max(...newer);
  const file = `pg_wal/${newest.toString(16).toUpperCase().padStart(8, '0')}.history`;
  const [h] = await select<{ text: string }>(s, 'SELECT pg_read_file($1) AS text', [file]);
  const fork = parseHistory(h.text).find((e) => e.parent === own);
  if (!fork) return undefined;
  const [r] = await select<{ at: string | null }>(s, 'SELECT pg_last_wal_replay_lsn()::text AS at');
  if (!r.at || parseLsn(r.at) <= parseLsn(fork.switchpoint)) return undefined;
  return `applied ${r.at} on timeline ${own}, past ${fork.switchpoint} where timeline ${newest} forked off it`;
}
