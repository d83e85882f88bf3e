// /clusters onto the Clusters service. A Trove cluster instance
// (`{"flavorRef", "volume", "availability_zone", "region_name"}`) is a member:
// its flavor is its memory, its availability zone its rack, its region its
// data center.
import { ClusterTask, MemberState, type Cluster, type MemberSpec } from '../../proto/gen/steward/v1/clusters.js';
import { type Json, list, obj, optObj, optStr, refId, root, str } from './body.js';
import type { Call, Rest } from './context.js';
import type { Datastores } from './datastores.js';
import { badRequest, notImplemented } from './errors.js';
import { nextHref, paginate, pageQuery } from './paging.js';
import { links, memoryOfFlavor, time } from './views.js';

/** Trove's cluster tasks (trove/common/cluster_tasks.py) for Steward's. */
const TASKS: Partial<Record<ClusterTask, { id: number; name: string; description: string }>> = {
  [ClusterTask.NONE]: { id: 1, name: 'NONE', description: 'No tasks for the cluster.' },
  [ClusterTask.BUILDING]: { id: 2, name: 'BUILDING', description: 'Building the initial cluster.' },
  [ClusterTask.DELETING]: { id: 3, name: 'DELETING', description: 'Deleting the cluster.' },
  [ClusterTask.GROWING]: { id: 5, name: 'GROWING_CLUSTER', description: 'Increasing the size of the cluster.' },
  [ClusterTask.SHRINKING]: { id: 6, name: 'SHRINKING_CLUSTER', description: 'Decreasing the size of the cluster.' },
};
const FAILED: Partial<Record<ClusterTask, ClusterTask>> = {
  [ClusterTask.BUILDING_ERROR]: ClusterTask.BUILDING,
  [ClusterTask.GROWING_ERROR]: ClusterTask.GROWING,
  [ClusterTask.SHRINKING_ERROR]: ClusterTask.SHRINKING,
  [ClusterTask.DELETING_ERROR]: ClusterTask.DELETING,
};

const MEMBER_STATUS: Partial<Record<MemberState, string>> = {
  [MemberState.BUILDING]: 'BUILD',
  [MemberState.JOINING]: 'BUILD',
  [MemberState.ACTIVE]: 'ACTIVE',
  [MemberState.LEAVING]: 'SHUTDOWN',
  [MemberState.REMOVED]: 'SHUTDOWN',
  [MemberState.ERROR]: 'ERROR',
};

const MAX_MEMBERS = 64;

function memberSpec(v: unknown, field: string): MemberSpec {
  const m = obj(v, field);
  const volume = optObj(m.volume, `${field}.volume`);
  if (volume !== undefined && volume.size !== undefined) refId(volume.size, `${field}.volume.size`);
  return {
    memoryMb: m.flavorRef === undefined || m.flavorRef === null ? 0 : memoryOfFlavor(refId(m.flavorRef, `${field}.flavorRef`)),
    dataCenter: optStr(m.region_name, `${field}.region_name`),
    rack: optStr(m.availability_zone, `${field}.availability_zone`),
  };
}

export function registerClusters(r: Rest, datastores: Datastores): void {
  const s = r.s;
  const view = async (c: Call, cl: Cluster): Promise<Json> => {
    const failed = FAILED[cl.task];
    const task = TASKS[failed ?? cl.task] ?? TASKS[ClusterTask.NONE]!;
    const members = await Promise.all(
      cl.members.map(async (m) => {
        const inst = await s.call(s.h.instances.get, { id: m.instanceId }, c.caller).catch(() => undefined);
        return {
          id: m.instanceId,
          name: m.name,
          type: 'member',
          status: MEMBER_STATUS[m.state] ?? 'BUILD',
          ...(m.host ? { ip: [m.host] } : {}),
          ...(inst ? { flavor: { id: String(inst.memoryMb), links: links(c.place, `flavors/${inst.memoryMb}`) } } : {}),
          links: links(c.place, `instances/${m.instanceId}`),
        };
      }),
    );
    const version = (await datastores.versions(cl.datastore))[0] ?? null;
    return {
      id: cl.id,
      name: cl.name,
      task,
      created: time(cl.createdAt),
      updated: time(cl.updatedAt),
      datastore: { type: cl.datastore, version },
      instances: members,
      ip: members.flatMap((m) => m.ip ?? []),
      links: links(c.place, `clusters/${cl.id}`),
      ...(failed ? { fault: { message: cl.taskMessage || 'the last task failed', created: time(cl.updatedAt), details: '' } } : {}),
    };
  };
  r.route('GET', '/clusters', 200, async (c) => {
    const q = pageQuery(c.query, r.config.pageSize);
    const { clusters } = await s.call(s.h.clusters.list, {}, c.caller);
    const { page, links: next } = paginate(
      clusters,
      (x) => x.id,
      q,
      (m) => nextHref(c.place.base, 'clusters', c.query, q.limit, m),
    );
    return { clusters: await Promise.all(page.map((x) => view(c, x))), links: next };
  });
  r.route('GET', '/clusters/:id', 200, async (c) => ({ cluster: await view(c, await s.call(s.h.clusters.get, { id: c.params.id }, c.caller)) }));
  r.route('POST', '/clusters', 200, async (c) => {
    const b = root(c.body, 'cluster');
    if (b.configuration !== undefined && b.configuration !== null) throw notImplemented('configuration groups');
    const ds = obj(b.datastore, 'cluster.datastore');
    const req = {
      name: str(b.name, 'cluster.name'),
      datastore: datastores.nameOf(str(ds.type, 'cluster.datastore.type')),
      members: list(b.instances, 'cluster.instances', MAX_MEMBERS).map((m, i) => memberSpec(m, `cluster.instances[${i}]`)),
    };
    return { cluster: await view(c, await s.call(s.h.clusters.create, req, c.caller)) };
  });
  r.route('POST', '/clusters/:id', 202, async (c) => {
    const b = obj(c.body ?? null, 'body');
    const keys = Object.keys(b);
    if (keys.length !== 1) throw badRequest(`a cluster action body has exactly one key (grow, shrink), not ${keys.length}`);
    const id = c.params.id;
    if ('grow' in b) {
      const members = list(b.grow, 'grow', MAX_MEMBERS).map((m, i) => memberSpec(m, `grow[${i}]`));
      return { cluster: await view(c, await s.call(s.h.clusters.grow, { id, members }, c.caller)) };
    }
    if ('shrink' in b) {
      const instanceIds = list(b.shrink, 'shrink', MAX_MEMBERS).map((m, i) => refId(obj(m, `shrink[${i}]`).id, `shrink[${i}].id`));
      return { cluster: await view(c, await s.call(s.h.clusters.shrink, { id, instanceIds }, c.caller)) };
    }
    await s.call(s.h.clusters.get, { id }, c.caller);
    if (keys[0] === 'upgrade' || keys[0] === 'add_shard' || keys[0] === 'reset-status') throw notImplemented(`the cluster action ${keys[0]}`);
    throw badRequest(`Invalid cluster action: ${keys[0].slice(0, 64)}`);
  });
  r.route('DELETE', '/clusters/:id', 202, async (c) => {
    await s.call(s.h.clusters.delete, { id: c.params.id }, c.caller);
    return undefined;
  });
}
