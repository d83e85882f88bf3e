// /instances/{id}/root onto the Root service. Clusters have no root service in
// Steward: /clusters/{id}/root answers 501.
import type { Rest } from './context.js';
import { obj } from './body.js';
import { notImplemented } from './errors.js';

export function registerRoot(r: Rest): void {
  const s = r.s;
  r.route('POST', '/instances/:id/root', 200, async (c) => {
    if (c.body !== undefined && c.body !== null && obj(c.body, 'body').password !== undefined) {
      throw notImplemented('choosing the root password (Steward generates it and shows it once)');
    }
    const res = await s.call(s.h.root.enable, { id: c.params.id }, c.caller);
    return { user: { name: res.user, password: res.password } };
  });
  r.route('GET', '/instances/:id/root', 200, async (c) => ({ rootEnabled: (await s.call(s.h.root.status, { id: c.params.id }, c.caller)).enabled }));
  r.route('DELETE', '/instances/:id/root', 204, async (c) => {
    await r.settle(await s.call(s.h.root.disable, { id: c.params.id }, c.caller), c.caller);
    return undefined;
  });
  r.missing('POST', '/clusters/:id/root', 'root for a cluster');
  r.missing('GET', '/clusters/:id/root', 'root for a cluster');
  r.missing('DELETE', '/clusters/:id/root', 'root for a cluster');
}
