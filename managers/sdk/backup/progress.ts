// Backup progress is bytes: the native bytes read (what the user's data
// amounts to) against an estimate when the strategy has one, carried as
// numbers (the controller reads them; the message is for people). Reported at
// most every `everyMs` so a fast pipeline does not flood the control stream.
import type { OperationScope } from '../contract.js';

export const mib = (bytes: number): string => `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;

export function byteProgress(op: OperationScope, stage: string, range: [number, number], expectedBytes = 0, everyMs = 1_000) {
  let last = 0;
  return (bytes: number, force = false): void => {
    const now = Date.now();
    if (!force && now - last < everyMs) return;
    last = now;
    const [lo, hi] = range;
    const fraction = expectedBytes > 0 ? Math.min(1, bytes / expectedBytes) : 0;
    op.progress(lo + (hi - lo) * fraction, `${stage}: ${mib(bytes)}${expectedBytes > 0 ? ` of about ${mib(expectedBytes)}` : ''}`, {
      done: bytes,
      total: expectedBytes > 0 ? expectedBytes : undefined,
    });
  };
}

/** A step's own 0-100 mapped into [lo, hi] of the enclosing operation (a restore inside prepare). */
export function subScope(op: OperationScope, lo: number, hi: number): OperationScope {
  return {
    signal: op.signal,
    progress: (percent, message, bytes) => op.progress(lo + ((hi - lo) * Math.max(0, Math.min(100, percent))) / 100, message, bytes),
  };
}
