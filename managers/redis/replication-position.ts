// Redis replication positions, as Steward writes them: "<replid>:<offset>",
// and, after a promotion, ",<replid2>:<upTo>" for the history it came from.
// Only these functions read them; the controller compares positions through
// them (replication-strategy.ts).
//
// An offset counts bytes of one replication stream, and a stream is named by
// its replication id (master_replid): offsets compare only within one stream.
// A promoted replica starts a new stream (new replid, offsets carry on) and
// keeps the old one as master_replid2: its first `second_repl_offset - 1`
// bytes are the old stream's. That one step of history is what lets a new
// primary's position compare with its siblings', which still name the old id.
//
// The rule: a replid names a whole stream, from offset 0 (a promoted
// primary's new stream begins with the old one's bytes). Two positions compare
// when their streams hold the same bytes up to the shorter one: the same
// replid, or one continuing the other's stream (its `from`) at or beyond the
// shorter one's offset, or both continuing the same old stream at or beyond
// it. Then the higher offset is ahead and the difference is the distance in
// bytes. Otherwise they do not compare: unrelated streams, or each with bytes
// the other lacks (a deposed primary's writes after the promotion). Redis keeps
// one step of history only, so two promotions apart a stale replica's position
// may no longer compare where it could: a conservative answer (never promoted
// over, never called caught up) until that replica resyncs.
//
// A restarted server loads its data from the AOF under a new replid at offset
// 0 (Redis 7.0 keeps a replica's replid only in an RDB, never in the AOF): a
// restarted primary's position does not compare with its replicas' until they
// resync from it, nor a restarted replica's until it has resynced.
import { invalidArgument } from '../sdk/errors.js';

export interface Position {
  replid: string;
  offset: number;
  /** The stream this one continues: its bytes up to `upTo` are this stream's too. */
  from?: { replid: string; upTo: number };
}

const NO_REPLID = '0000000000000000000000000000000000000000';
const REPLID = /^[0-9a-f]{40}$/;
const TEXT = /^([0-9a-f]{40}):(\d{1,16})(?:,([0-9a-f]{40}):(\d{1,16}))?$/;

export function formatPosition(p: Position): string {
  const head = `${p.replid}:${p.offset}`;
  return p.from ? `${head},${p.from.replid}:${p.from.upTo}` : head;
}

/** The position INFO replication describes (on a primary or a replica alike). */
export function positionOfInfo(info: Record<string, string>): Position | undefined {
  const replid = info.master_replid ?? '';
  const offset = Number(info.master_repl_offset);
  if (!REPLID.test(replid) || !Number.isSafeInteger(offset) || offset < 0) return undefined;
  const replid2 = info.master_replid2 ?? NO_REPLID;
  const second = Number(info.second_repl_offset ?? -1);
  // second_repl_offset is the highest offset a replica may still ask the old id for (the byte after its last): the old stream's part ends one before.
  const from = replid2 !== NO_REPLID && REPLID.test(replid2) && Number.isSafeInteger(second) && second > 0 ? { replid: replid2, upTo: second - 1 } : undefined;
  return { replid, offset, ...(from ? { from } : {}) };
}

/** Undefined for anything that is not a position this manager wrote (the controller never throws on a report). */
export function tryParsePosition(text: string): Position | undefined {
  const m = TEXT.exec(text);
  if (!m) return undefined;
  const offset = Number(m[2]);
  if (!m[3]) return { replid: m[1], offset };
  const upTo = Number(m[4]);
  // A history that ends after the stream it leads to is not one Redis reports.
  if (upTo > offset) return undefined;
  return { replid: m[1], offset, from: { replid: m[3], upTo } };
}

export function parsePosition(text: string, field = 'position'): Position {
  const p = tryParsePosition(text);
  if (!p) throw invalidArgument(field, `"${text.slice(0, 100)}" is not a Redis replication position (<replid>:<offset>[,<replid>:<offset>])`);
  return p;
}

/**
 * Whether the streams `a` and `b` name hold the same bytes up to `limit`. A
 * replid names a whole stream from offset 0 (a promoted primary's new stream
 * begins with its old one's bytes), so the same replid is the same stream;
 * a `from` says where one stream stops being another.
 */
function sameUpTo(a: Position, b: Position, limit: number): boolean {
  if (a.replid === b.replid) return true;
  if (a.from?.replid === b.replid && limit <= a.from.upTo) return true;
  if (b.from?.replid === a.replid && limit <= b.from.upTo) return true;
  // Two that each continue the same old stream, neither beyond where it left it.
  return !!a.from && !!b.from && a.from.replid === b.from.replid && limit <= Math.min(a.from.upTo, b.from.upTo);
}

/** Negative when `a` is behind `b`, 0 when level, positive when ahead; undefined when they do not compare (see the header). */
export function comparePositions(a: Position, b: Position): number | undefined {
  if (!sameUpTo(a, b, Math.min(a.offset, b.offset))) return undefined;
  return Math.sign(a.offset - b.offset);
}

/** Text positions; the empty position (nothing reported yet) is behind every other. */
export function compareText(a: string, b: string): number | undefined {
  if (!a || !b) return a === b ? 0 : a ? 1 : -1;
  const x = tryParsePosition(a);
  const y = tryParsePosition(b);
  return x && y ? comparePositions(x, y) : undefined;
}

/** Bytes `behind` lacks of `ahead` (0 when it is level or ahead), when they compare. */
export function distanceText(ahead: string, behind: string): number | undefined {
  const x = tryParsePosition(ahead);
  if (!x) return undefined;
  if (!behind) return x.offset;
  const y = tryParsePosition(behind);
  if (!y || comparePositions(x, y) === undefined) return undefined;
  return Math.max(0, x.offset - y.offset);
}
