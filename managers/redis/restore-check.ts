// After the first start of a restored server: proof that it loaded the
// restored snapshot, not something else (an empty dataset because the AOF
// layout was not recognised, say). redis-check-rdb counted every key in the
// file; on load the server either keeps a key or drops it as expired, and
// reports both counts, so together they must equal the file's. And the AOF
// must be on, as the configuration says, so the data survives the next start.
import { internal } from '../sdk/errors.js';
import { info, type Session } from './connection.js';
import type { RestoredSnapshot } from './restore.js';

export async function confirmRestoreLoaded(s: Session, restored: RestoredSnapshot): Promise<void> {
  const p = await info(s, 'persistence');
  const loaded = Number(p.rdb_last_load_keys_loaded);
  const expired = Number(p.rdb_last_load_keys_expired);
  if (!Number.isFinite(loaded) || !Number.isFinite(expired)) {
    throw internal('Redis does not report how many keys it loaded (rdb_last_load_keys_loaded); cannot confirm the restore');
  }
  if (loaded + expired !== restored.keys) {
    throw internal(
      `Redis loaded ${loaded} keys (and dropped ${expired} expired ones) on start, but backup ${restored.backupId} holds ${restored.keys}: ` +
        'it did not load the restored snapshot',
    );
  }
  if (p.aof_enabled !== '1') throw internal('Redis started from the restored snapshot with its append-only file off');
}
