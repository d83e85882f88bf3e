// /backups onto the Backups service. Trove's `parent_id` means "incremental
// on this parent"; `incremental: 1` alone means "on the latest backup".
import { notImplemented } from './errors.js';
import { flag, optStr, refId, root, str } from './body.js';
import type { Rest } from './context.js';
import type { Datastores } from './datastores.js';
import { nextHref, paginate, pageQuery } from './paging.js';
import { backupView } from './views.js';

export function registerBackups(r: Rest, datastores: Datastores): void {
  const s = r.s;
  r.route('GET', '/backups', 200, async (c) => {
    const q = pageQuery(c.query, r.config.pageSize);
    const instanceId = optStr(c.query.instance_id, 'instance_id');
    const ds = optStr(c.query.datastore, 'datastore');
    const { backups } = await s.call(s.h.backups.list, { instanceId }, c.caller);
    const wanted = ds ? backups.filter((b) => b.datastore === datastores.nameOf(ds)) : backups;
    const { page, links } = paginate(
      wanted,
      (b) => b.id,
      q,
      (m) => nextHref(c.place.base, 'backups', c.query, q.limit, m),
    );
    return { backups: page.map((b) => backupView(b, c.place)), links };
  });
  r.route('GET', '/backups/:id', 200, async (c) => ({ backup: backupView(await s.call(s.h.backups.get, { id: c.params.id }, c.caller), c.place) }));
  r.route('POST', '/backups', 202, async (c) => {
    const b = root(c.body, 'backup');
    if (b.restore_from !== undefined) throw notImplemented('restoring a backup from a remote location');
    const parentId = b.parent_id === undefined || b.parent_id === null ? '' : refId(b.parent_id, 'backup.parent_id');
    const req = {
      instanceId: refId(b.instance, 'backup.instance'),
      name: str(b.name, 'backup.name'),
      description: optStr(b.description, 'backup.description'),
      incremental: flag(b.incremental, 'backup.incremental') || !!parentId,
      parentId,
    };
    return { backup: backupView(await s.call(s.h.backups.create, req, c.caller), c.place) };
  });
  r.route('DELETE', '/backups/:id', 202, async (c) => {
    await s.call(s.h.backups.delete, { id: c.params.id, chain: false }, c.caller);
    return undefined;
  });
  r.missing('GET', '/backup_strategies', 'backup strategies');
  r.missing('POST', '/backup_strategies', 'backup strategies');
  r.missing('DELETE', '/backup_strategies', 'backup strategies');
}
