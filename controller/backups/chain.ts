// Chain rules, pure: which backups an incremental hangs from, what a restore
// needs, and in which order a chain is deleted (children before parents, so a
// failure part way never leaves an incremental without its base).
import { failedPrecondition } from '../../managers/sdk/errors.js';
import { seriesOf } from '../../managers/sdk/backup/strategy.js';
import type { BackupsTable } from './schema.js';

type Node = Pick<BackupsTable, 'id' | 'parent_id' | 'status' | 'deleted_at'>;

/** Every live backup built on `id`, directly or not, deepest first. */
export function descendantsDeepestFirst(id: string, all: readonly Node[]): string[] {
  const children = new Map<string, string[]>();
  for (const b of all) {
    if (b.deleted_at || !b.parent_id) continue;
    children.set(b.parent_id, [...(children.get(b.parent_id) ?? []), b.id]);
  }
  const levels: string[][] = [];
  let frontier = children.get(id) ?? [];
  const seen = new Set<string>([id]);
  while (frontier.length) {
    const next: string[] = [];
    const level: string[] = [];
    for (const c of frontier) {
      if (seen.has(c)) continue; // a cycle would be a bug elsewhere; never loop on it
      seen.add(c);
      level.push(c);
      next.push(...(children.get(c) ?? []));
    }
    levels.push(level);
    frontier = next;
  }
  return levels.reverse().flat();
}

/** The chain ending at `id`, full backup first; every link must be COMPLETED and not deleted. */
export function chainTo<T extends Node>(id: string, byId: ReadonlyMap<string, T>): T[] {
  const chain: T[] = [];
  const seen = new Set<string>();
  let cur = byId.get(id);
  while (cur) {
    if (seen.has(cur.id)) throw failedPrecondition(`backup chain of ${id} loops at ${cur.id}`);
    seen.add(cur.id);
    if (cur.deleted_at) throw failedPrecondition(`backup ${cur.id} in the chain of ${id} has been deleted`);
    if (cur.status !== 'COMPLETED') throw failedPrecondition(`backup ${cur.id} in the chain of ${id} is ${cur.status}, not COMPLETED`);
    chain.unshift(cur);
    if (!cur.parent_id) return chain;
    const parent = byId.get(cur.parent_id);
    if (!parent) throw failedPrecondition(`backup ${cur.id} depends on ${cur.parent_id}, which no longer exists`);
    cur = parent;
  }
  throw failedPrecondition(`backup ${id} not found`);
}

export function checkRestorable(backup: Pick<BackupsTable, 'id' | 'datastore' | 'datastore_version'>, datastore: string, version: string): void {
  if (backup.datastore !== datastore) {
    throw failedPrecondition(`backup ${backup.id} is a ${backup.datastore} backup and cannot be restored into ${datastore}`);
  }
  const want = seriesOf(version, datastore);
  const have = seriesOf(backup.datastore_version, datastore);
  if (want && have && want !== have) {
    throw failedPrecondition(`backup ${backup.id} was taken from ${backup.datastore} ${have}; it cannot be restored into ${want}`);
  }
}
