// /instances/{id}/root and /clusters/{id}/root onto the Root service. Steward's
// clusters (Cassandra rings) keep roles ring-wide in system_auth, so root
// enabled on one active member is root on every member, as Trove's cluster
// root is: the call goes to that member. (A datastore whose clusters keep
// users per node, such as Redis Cluster, needs a cluster-wide operation first.)
import { failedPrecondition } from '../../managers/sdk/errors.js';
import { MemberState } from '../../proto/gen/steward/v1/clusters.js';
import type { Call, Rest } from './context.js';
import { obj } from './body.js';
import { notImplemented } from './errors.js';

const noChosenPassword = (c: Call) => {
  if (c.body !== undefined && c.body !== null && obj(c.body, 'body').password !== undefined) {
    throw notImplemented('choosing the root password (Steward generates it and shows it once)');
  }
};

export function registerRoot(r: Rest): void {
  const s = r.s;
  r.route('POST', '/instances/:id/root', 200, async (c) => {
    noChosenPassword(c);
    const res = await s.call(s.h.root.enable, { id: c.params.id }, c.caller);
    return { user: { name: res.user, password: res.password } };
  });
  r.route('GET', '/instances/:id/root', 200, async (c) => ({ rootEnabled: (await s.call(s.h.root.status, { id: c.params.id }, c.caller)).enabled }));
  r.route('DELETE', '/instances/:id/root', 204, async (c) => {
    await r.settle(await s.call(s.h.root.disable, { id: c.params.id }, c.caller), c.caller);
    return undefined;
  });

  /** The member that answers for the ring: the first active one. */
  const member = async (c: Call) => {
    const cluster = await s.call(s.h.clusters.get, { id: c.params.id }, c.caller);
    const m = cluster.members.find((x) => x.state === MemberState.ACTIVE);
    if (!m) throw failedPrecondition(`cluster ${cluster.id} has no active member to enable root on`);
    return m.instanceId;
  };
  r.route('POST', '/clusters/:id/root', 200, async (c) => {
    noChosenPassword(c);
    const res = await s.call(s.h.root.enable, { id: await member(c) }, c.caller);
    return { user: { name: res.user, password: res.password } };
  });
  r.route('GET', '/clusters/:id/root', 200, async (c) => ({ rootEnabled: (await s.call(s.h.root.status, { id: await member(c) }, c.caller)).enabled }));
  r.missing('DELETE', '/clusters/:id/root', 'disabling root for a cluster (Trove has no such call either)');
}
