// Keeps the outbox bounded: events every sink has delivered are deleted once
// older than the retention. The highest deleted sequence is remembered, so a
// Watch that asks to resume before it is told it has missed events.
import type { Logger } from '../../managers/sdk/logger.js';
import type { Store } from '../store/open.js';
import { PRUNED_CURSOR, readCursor, writeCursor } from './outbox.js';

export async function prunedThrough(db: Store): Promise<number> {
  return (await readCursor(db, PRUNED_CURSOR)) ?? 0;
}

export async function pruneOutbox(store: Store, sinkNames: readonly string[], retentionMs: number, now = Date.now()): Promise<number> {
  return store.transaction().execute(async (trx) => {
    let limit = Number.MAX_SAFE_INTEGER;
    for (const name of sinkNames) limit = Math.min(limit, (await readCursor(trx, name)) ?? 0);
    const cutoff = new Date(now - retentionMs).toISOString();
    const last = await trx
      .selectFrom('notification_outbox')
      .select((eb) => eb.fn.max('seq').as('max'))
      .where('seq', '<=', limit)
      .where('created_at', '<', cutoff)
      .executeTakeFirst();
    const through = Number(last?.max ?? 0);
    if (through <= (await prunedThrough(trx))) return 0;
    const res = await trx.deleteFrom('notification_outbox').where('seq', '<=', through).executeTakeFirst();
    await writeCursor(trx, PRUNED_CURSOR, through);
    return Number(res.numDeletedRows);
  });
}

/** Prunes now and every `everyMs`; returns the function that stops it. */
export function startPruning(store: Store, sinkNames: readonly string[], retentionMs: number, log: Logger, everyMs = 60_000): () => void {
  const prune = () =>
    void pruneOutbox(store, sinkNames, retentionMs)
      .then((n) => n > 0 && log.info({ pruned: n }, 'old delivered events pruned from the outbox'))
      .catch((err) => log.error({ err: (err as Error).message }, 'outbox pruning failed'));
  prune();
  const timer = setInterval(prune, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
