// /instances/{id}/databases onto the Databases service.
import type { Database } from '../../proto/gen/steward/v1/common.js';
import { list, obj } from './body.js';
import type { Rest } from './context.js';
import { databaseOf } from './instances.js';
import { nextHref, pageQuery } from './paging.js';

export const databaseView = (d: Database) => ({
  name: d.name,
  ...(d.characterSet ? { character_set: d.characterSet } : {}),
  ...(d.collation ? { collate: d.collation } : {}),
});

export function registerDatabases(r: Rest): void {
  const s = r.s;
  r.route('GET', '/instances/:id/databases', 200, async (c) => {
    const q = pageQuery(c.query, r.config.pageSize);
    const res = await s.call(s.h.databases.list, { instanceId: c.params.id, page: { limit: q.limit, marker: q.marker } }, c.caller);
    const more = res.nextMarker && res.nextMarker !== q.marker;
    return {
      databases: res.databases.map(databaseView),
      links: more ? [{ rel: 'next', href: nextHref(c.place.base, `instances/${c.params.id}/databases`, c.query, q.limit, res.nextMarker) }] : [],
    };
  });
  r.route('POST', '/instances/:id/databases', 202, async (c) => {
    const items = list(obj(c.body ?? null, 'body').databases, 'databases', 100);
    const databases = items.map((d, i) => databaseOf(d, `databases[${i}]`));
    await r.settle(await s.call(s.h.databases.create, { instanceId: c.params.id, databases }, c.caller), c.caller);
    return undefined;
  });
  r.route('DELETE', '/instances/:id/databases/:name', 202, async (c) => {
    const op = await s.call(s.h.databases.delete, { instanceId: c.params.id, name: c.params.name, terminateConnections: false }, c.caller);
    await r.settle(op, c.caller);
    return undefined;
  });
}
