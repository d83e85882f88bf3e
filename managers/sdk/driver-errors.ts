// Translating a datastore driver's errors starts the same for every driver:
// some errors already mean something without the driver's help.
import { StewardError } from './errors.js';

/**
 * The StewardError for an error that needs no knowledge of the driver: one
 * that already is a StewardError, or the operation's own cancellation or
 * deadline surfacing through the driver. Undefined for anything else.
 */
export function knownError(err: unknown): StewardError | undefined {
  if (err instanceof StewardError) return err;
  const e = err as { message?: string; name?: string } | undefined;
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError') {
    return new StewardError(e.name === 'TimeoutError' ? 'DEADLINE_EXCEEDED' : 'CANCELLED', e.message ?? 'aborted');
  }
  return undefined;
}
