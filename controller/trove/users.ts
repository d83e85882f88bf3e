// /instances/{id}/users onto the Users service. A user's id in a path is
// `name@host` as python-troveclient quotes it (common.quote_user_host); a
// missing host is the datastore's default, as Trove's unquote_user_host.
import type { User, UserRef } from '../../proto/gen/steward/v1/common.js';
import { list, names, obj, optStr, root, str } from './body.js';
import type { Rest } from './context.js';
import { badRequest, notImplemented } from './errors.js';
import { userOf } from './instances.js';
import { nextHref, pageQuery } from './paging.js';

/** `name@host` (the last "@" splits; no "@" or nothing after it: the default host). */
export function userRef(id: string): UserRef {
  const at = id.lastIndexOf('@');
  return at < 0 ? { name: id, host: '' } : { name: id.slice(0, at), host: id.slice(at + 1) };
}

export const userView = (u: User) => ({ name: u.name, host: u.host, databases: u.access.map((a) => ({ name: a.database })) });

export function registerUsers(r: Rest): void {
  const s = r.s;
  const MAX = 100;
  r.route('GET', '/instances/:id/users', 200, async (c) => {
    const q = pageQuery(c.query, r.config.pageSize);
    const res = await s.call(s.h.users.list, { instanceId: c.params.id, page: { limit: q.limit, marker: q.marker } }, c.caller);
    const more = res.nextMarker && res.nextMarker !== q.marker;
    return {
      users: res.users.map(userView),
      links: more ? [{ rel: 'next', href: nextHref(c.place.base, `instances/${c.params.id}/users`, c.query, q.limit, res.nextMarker) }] : [],
    };
  });
  r.route('POST', '/instances/:id/users', 202, async (c) => {
    const users = list(obj(c.body ?? null, 'body').users, 'users', MAX).map((u, i) => userOf(u, `users[${i}]`));
    await r.settle(await s.call(s.h.users.create, { instanceId: c.params.id, users }, c.caller), c.caller);
    return undefined;
  });
  // Change the passwords of several users.
  r.route('PUT', '/instances/:id/users', 202, async (c) => {
    const users = list(obj(c.body ?? null, 'body').users, 'users', MAX).map((u, i) => {
      const o = obj(u, `users[${i}]`);
      return { user: { name: str(o.name, `users[${i}].name`), host: optStr(o.host, `users[${i}].host`) }, password: str(o.password, `users[${i}].password`) };
    });
    for (const u of users) await r.settle(await s.call(s.h.users.changePassword, { instanceId: c.params.id, ...u }, c.caller), c.caller);
    return undefined;
  });
  r.route('GET', '/instances/:id/users/:user', 200, async (c) => ({
    user: userView(await s.call(s.h.users.get, { instanceId: c.params.id, user: userRef(c.params.user) }, c.caller)),
  }));
  r.route('PUT', '/instances/:id/users/:user', 202, async (c) => {
    const ref = userRef(c.params.user);
    const u = root(c.body, 'user');
    const name = u.name === undefined || u.name === null ? ref.name : str(u.name, 'user.name');
    const host = u.host === undefined || u.host === null ? ref.host : str(u.host, 'user.host');
    if (name !== ref.name || host !== ref.host) throw notImplemented('renaming a user or changing its host');
    if (u.password === undefined || u.password === null) throw badRequest('user.password: is required (nothing else can be changed)');
    const op = await s.call(s.h.users.changePassword, { instanceId: c.params.id, user: ref, password: str(u.password, 'user.password') }, c.caller);
    await r.settle(op, c.caller);
    return undefined;
  });
  r.route('DELETE', '/instances/:id/users/:user', 202, async (c) => {
    await r.settle(await s.call(s.h.users.delete, { instanceId: c.params.id, user: userRef(c.params.user) }, c.caller), c.caller);
    return undefined;
  });
  r.route('GET', '/instances/:id/users/:user/databases', 200, async (c) => {
    const res = await s.call(s.h.users.listAccess, { instanceId: c.params.id, user: userRef(c.params.user) }, c.caller);
    return { databases: res.access.map((a) => ({ name: a.database })) };
  });
  r.route('PUT', '/instances/:id/users/:user/databases', 202, async (c) => {
    const databases = names(obj(c.body ?? null, 'body').databases, 'databases', MAX);
    await r.settle(await s.call(s.h.users.grant, { instanceId: c.params.id, user: userRef(c.params.user), databases }, c.caller), c.caller);
    return undefined;
  });
  r.route('DELETE', '/instances/:id/users/:user/databases/:db', 202, async (c) => {
    const op = await s.call(s.h.users.revoke, { instanceId: c.params.id, user: userRef(c.params.user), databases: [c.params.db] }, c.caller);
    await r.settle(op, c.caller);
    return undefined;
  });
}
