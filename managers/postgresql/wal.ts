// WAL positions and segment file names, as PostgreSQL computes them. An LSN
// is a 64-bit byte position written "hi/lo" in hex; a segment file name is
// TTTTTTTTXXXXXXXXYYYYYYYY (timeline, then the segment number split into
// "log id" and the segment within it, 2^32 / segment size segments per log id).
// Incremental backups are ranges of these files, so the arithmetic has to be
// exactly the server's: pg_walfile_name() puts an LSN that sits on a segment
// boundary into the segment before it (the one that position ends).
import { failedPrecondition } from '../sdk/errors.js';

const LSN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;
const SEGMENT = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;
const HISTORY = /^([0-9A-F]{8})\.history$/;

export const isLsn = (text: string | undefined): boolean => LSN.test(text ?? '');
export const isWalSegmentName = (name: string | undefined): boolean => SEGMENT.test(name ?? '');
export const isHistoryFileName = (name: string | undefined): boolean => HISTORY.test(name ?? '');

export function parseLsn(text: string): bigint {
  const m = LSN.exec(text);
  if (!m) throw new Error(`not an LSN: ${JSON.stringify(text)}`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

const hex8 = (n: bigint | number): string => n.toString(16).toUpperCase().padStart(8, '0');

/** Segments per "log id" (the middle eight digits of a file name). */
const perLogId = (segmentSize: number): bigint => 0x1_0000_0000n / BigInt(segmentSize);

function checkSegmentSize(segmentSize: number): void {
  // initdb allows powers of two from 1 MiB to 1 GiB.
  if (!Number.isInteger(segmentSize) || segmentSize < 1 << 20 || segmentSize > 1 << 30 || (segmentSize & (segmentSize - 1)) !== 0) {
    throw new Error(`not a WAL segment size: ${segmentSize}`);
  }
}

export interface WalSegment {
  timeline: number;
  segno: bigint;
}

export function walFileName(s: WalSegment, segmentSize: number): string {
  checkSegmentSize(segmentSize);
  const per = perLogId(segmentSize);
  return `${hex8(s.timeline)}${hex8(s.segno / per)}${hex8(s.segno % per)}`;
}

export function parseWalFileName(name: string, segmentSize: number): WalSegment {
  checkSegmentSize(segmentSize);
  const m = SEGMENT.exec(name);
  if (!m) throw new Error(`not a WAL segment file name: ${JSON.stringify(name)}`);
  const per = perLogId(segmentSize);
  const within = BigInt(`0x${m[3]}`);
  if (within >= per) throw new Error(`${name} is not a segment of ${segmentSize}-byte WAL`);
  return { timeline: Number.parseInt(m[1], 16), segno: BigInt(`0x${m[2]}`) * per + within };
}

/** The segment holding the byte before `lsn`, i.e. the one a position ends (pg_walfile_name). */
export function walFileEnding(lsn: bigint, timeline: number, segmentSize: number): string {
  if (lsn <= 0n) throw new Error('LSN 0 ends no segment');
  return walFileName({ timeline, segno: (lsn - 1n) / BigInt(segmentSize) }, segmentSize);
}

/** The segment holding the byte at `lsn`. */
export function walFileAt(lsn: bigint, timeline: number, segmentSize: number): string {
  return walFileName({ timeline, segno: lsn / BigInt(segmentSize) }, segmentSize);
}

export const timelineOf = (walFile: string): number => Number.parseInt(walFile.slice(0, 8), 16);

export const historyFileName = (timeline: number): string => `${hex8(timeline)}.history`;

/**
 * Every segment file from `first` to `last`, both included, on one timeline.
 * FAILED_PRECONDITION when the range runs backwards or crosses timelines: an
 * incremental backup never spans a timeline switch.
 */
export function walRange(first: string, last: string, segmentSize: number): string[] {
  const a = parseWalFileName(first, segmentSize);
  const b = parseWalFileName(last, segmentSize);
  if (a.timeline !== b.timeline) throw failedPrecondition(`WAL ${first} and ${last} are on different timelines (${a.timeline}, ${b.timeline})`);
  if (b.segno < a.segno) throw failedPrecondition(`WAL ${last} comes before ${first}`);
  const out: string[] = [];
  for (let n = a.segno; n <= b.segno; n++) out.push(walFileName({ timeline: a.timeline, segno: n }, segmentSize));
  return out;
}
