// MariaDB GTID positions ("0-12-345,1-7-20": domain-server-sequence, one per
// replication domain). A position contains another when it is at or past it in
// every domain of the other. Only these functions read GTID strings; the
// controller compares positions through them (replication-strategy.ts).
import { invalidArgument } from '../sdk/errors.js';

/** Per domain, the server id and sequence number of the last transaction. */
export type GtidSet = Map<number, { server: number; seq: bigint }>;

const ENTRY = /^(\d{1,10})-(\d{1,10})-(\d{1,20})$/;

export function parseGtid(text: string, field = 'position'): GtidSet {
  const set: GtidSet = new Map();
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = ENTRY.exec(part);
    if (!m) throw invalidArgument(field, `"${part.slice(0, 40)}" is not a MariaDB GTID (domain-server-sequence)`);
    set.set(Number(m[1]), { server: Number(m[2]), seq: BigInt(m[3]) });
  }
  return set;
}

export const formatGtid = (set: GtidSet): string =>
  [...set.entries()]
    .sort(([a], [b]) => a - b)
    .map(([d, g]) => `${d}-${g.server}-${g.seq}`)
    .join(',');

/**
 * Negative when `a` is behind `b`, 0 when equal, positive when ahead;
 * undefined when each has something the other lacks (then neither may be
 * promoted over the other without losing transactions).
 */
export function compareGtid(a: string, b: string): number | undefined {
  const x = parseGtid(a);
  const y = parseGtid(b);
  let ahead = false;
  let behind = false;
  for (const d of new Set([...x.keys(), ...y.keys()])) {
    const p = x.get(d)?.seq ?? -1n;
    const q = y.get(d)?.seq ?? -1n;
    if (p > q) ahead = true;
    if (p < q) behind = true;
  }
  if (ahead && behind) return undefined;
  return ahead ? 1 : behind ? -1 : 0;
}

/** Transactions `behind` lacks of `ahead`, summed over domains (the lag a MariaDB replica reports). */
export function gtidDistance(ahead: string, behind: string): number | undefined {
  const x = parseGtid(ahead);
  const y = parseGtid(behind);
  let n = 0n;
  for (const [d, g] of x) {
    const have = y.get(d)?.seq ?? 0n;
    if (g.seq > have) n += g.seq - have;
  }
  return Number(n);
}

/**
 * Domains where `mine` has transactions beyond `theirs`: a former primary's
 * errant transactions (written after the new primary was promoted, never
 * replicated). Empty when `mine` is contained in `theirs`.
 */
export function errantGtids(mine: string, theirs: string): string {
  const x = parseGtid(mine);
  const y = parseGtid(theirs);
  const errant: GtidSet = new Map();
  for (const [d, g] of x) if (g.seq > (y.get(d)?.seq ?? -1n)) errant.set(d, g);
  return formatGtid(errant);
}
