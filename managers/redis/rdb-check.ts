// redis-check-rdb on a restored file before any server sees it: the RDB's own
// CRC64 and structure, and whether this Redis reads its format version (Redis
// 7.2 writes RDB 11, which 7.0 cannot load). The pipeline already proved the
// bytes are the ones stored; this proves they are a snapshot this server can
// load, so a bad one is refused with a reason instead of a server that exits
// on start. Its summary also counts the keys, which the server must then
// report loaded (restore-check.ts).
import { dirname, join } from 'node:path';
import { failedPrecondition, internal } from '../sdk/errors.js';
import type { Runner } from '../sdk/runner.js';

export interface RdbSummary {
  /** Every key in the file, in every database, expired ones included. */
  keys: number;
  /** Keys with a TTL, and those of them already past it when checked. */
  expires: number;
  alreadyExpired: number;
}

/** Shipped next to the server (Debian: the same binary, which picks its mode by the name it is run as). */
export const checkRdbTool = (server: string): string => join(dirname(server), 'redis-check-rdb');

const TOOL_TIMEOUT_MS = 6 * 3600_000;

/** The "[info] N keys read" lines at the end of the tool's report. */
export function parseCheckSummary(text: string): RdbSummary | undefined {
  const count = (what: string): number | undefined => {
    const m = new RegExp(`^\\[info\\] (\\d+) ${what}$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const keys = count('keys read');
  if (keys === undefined) return undefined;
  return { keys, expires: count('expires') ?? 0, alreadyExpired: count('already expired') ?? 0 };
}

/** What went wrong, from the lines after "--- RDB ERROR DETECTED ---" ("[offset 9] Can't handle RDB format version 11"). */
export function checkError(text: string): string {
  const after = text.split('--- RDB ERROR DETECTED ---')[1] ?? text;
  const lines = after
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('[info]'));
  return lines.slice(0, 3).join('; ') || 'no reason given';
}

export async function checkRdbFile(o: { runner: Runner; server: string; file: string; backupId: string; signal: AbortSignal }): Promise<RdbSummary> {
  const result = await o.runner(checkRdbTool(o.server), [o.file], { signal: o.signal, timeoutMs: TOOL_TIMEOUT_MS, okCodes: [1] });
  const text = `${result.stdout}\n${result.stderr}`;
  if (result.code !== 0) {
    throw failedPrecondition(`backup ${o.backupId} does not hold an RDB file this Redis can load: ${checkError(text)}; nothing was restored from it`);
  }
  const summary = parseCheckSummary(text);
  if (!summary) throw internal(`redis-check-rdb accepted backup ${o.backupId} but printed no key count; nothing was restored from it`);
  return summary;
}
