// /instances: list, show, create, update, delete and actions, onto the
// Instances and ReplicaSets services.
import { CreateInstanceRequest, type Instance } from '../../proto/gen/steward/v1/api.js';
import { ReplicationRole } from '../../proto/gen/steward/v1/replication.js';
import type { Database, User } from '../../proto/gen/steward/v1/common.js';
import { RUNNING_STATUSES } from '../backups/status.js';
import type { Caller } from '../tokens.js';
import { flag, type Json, list, names, obj, optInt, optList, optObj, optStr, refId, root, str } from './body.js';
import type { Call, Rest } from './context.js';
import type { Datastores } from './datastores.js';
import { badRequest, notImplemented } from './errors.js';
import { checkDisplayName } from '../names.js';
import { nextHref, paginate, pageQuery } from './paging.js';
import { backupView, instanceView, memoryOfFlavor } from './views.js';

const MAX_ITEMS = 100;

export function databaseOf(v: unknown, field: string): Database {
  const d = obj(v, field);
  return {
    name: str(d.name, `${field}.name`),
    characterSet: optStr(d.character_set, `${field}.character_set`),
    collation: optStr(d.collate, `${field}.collate`),
    ctype: '',
    replication: {},
  };
}

export function userOf(v: unknown, field: string): User {
  const u = obj(v, field);
  return {
    name: str(u.name, `${field}.name`),
    host: optStr(u.host, `${field}.host`),
    password: str(u.password, `${field}.password`),
    access: u.databases === undefined || u.databases === null ? [] : names(u.databases, `${field}.databases`, MAX_ITEMS).map((database) => ({ database })),
    permissions: '',
  };
}

export class Instances {
  constructor(
    private readonly r: Rest,
    private readonly datastores: Datastores,
  ) {}

  /** Instances with a backup running (Trove reports them BACKUP) and cluster members (hidden unless asked for). */
  private async extras(): Promise<{ backingUp: Set<string>; clustered: Set<string> }> {
    const store = this.r.s.ctx.store;
    const [running, members] = await Promise.all([
      store
        .selectFrom('backups')
        .select('instance_id')
        .where('status', 'in', [...RUNNING_STATUSES])
        .where('deleted_at', 'is', null)
        .execute(),
      store.selectFrom('cluster_members').select('instance_id').execute(),
    ]);
    return { backingUp: new Set(running.map((b) => b.instance_id)), clustered: new Set(members.map((m) => m.instance_id)) };
  }

  async get(c: Pick<Call, 'caller'>, id: string): Promise<Instance> {
    return this.r.s.call(this.r.s.h.instances.get, { id }, c.caller);
  }

  async show(c: Call, i: Instance): Promise<Json> {
    const { backingUp } = await this.extras();
    return { instance: instanceView(i, c.place, { detail: true, backupRunning: backingUp.has(i.id) }) };
  }

  private async list(c: Call, detail: boolean): Promise<Json> {
    const q = pageQuery(c.query, this.r.config.pageSize);
    const includeClustered = flag(c.query.include_clustered, 'include_clustered');
    const [{ instances }, ex] = await Promise.all([this.r.s.call(this.r.s.h.instances.list, {}, c.caller), this.extras()]);
    const shown = includeClustered ? instances : instances.filter((i) => !ex.clustered.has(i.id));
    const path = detail ? 'instances/detail' : 'instances';
    const { page, links } = paginate(
      shown,
      (i) => i.id,
      q,
      (m) => nextHref(c.place.base, path, c.query, q.limit, m),
    );
    return { instances: page.map((i) => instanceView(i, c.place, { detail, backupRunning: ex.backingUp.has(i.id) })), links };
  }

  private async createRequest(c: Call): Promise<CreateInstanceRequest> {
    const b = root(c.body, 'instance');
    if (b.configuration !== undefined && b.configuration !== null) throw notImplemented('creating an instance with a configuration group');
    if (b.modules !== undefined && b.modules !== null && list(b.modules, 'instance.modules', MAX_ITEMS).length) throw notImplemented('modules');
    const name = str(b.name, 'instance.name');
    // Trove ignores volumes where it has no volume support; Steward has none (only their shape is checked).
    const volume = optObj(b.volume, 'instance.volume');
    if (volume) optInt(volume.size, 'instance.volume.size', 1, 1_000_000);
    optObj(b.access, 'instance.access');
    optList(b.nics, 'instance.nics', MAX_ITEMS);
    optStr(b.availability_zone, 'instance.availability_zone');
    if (b.replica_of !== undefined && b.replica_of !== null) {
      return CreateInstanceRequest.fromPartial({
        name,
        replicaOf: refId(b.replica_of, 'instance.replica_of'),
        replicaCount: optInt(b.replica_count, 'instance.replica_count', 1, 1_000) ?? 1,
      });
    }
    if (b.replica_count !== undefined && b.replica_count !== null) throw badRequest('instance.replica_count: only with instance.replica_of');
    if (b.flavorRef === undefined || b.flavorRef === null) throw badRequest('instance.flavorRef: is required');
    const memoryMb = memoryOfFlavor(refId(b.flavorRef, 'instance.flavorRef'));
    const ds = optObj(b.datastore, 'instance.datastore') ?? {};
    const datastore = this.datastores.nameOf(optStr(ds.type, 'instance.datastore.type'));
    const restore = optObj(b.restorePoint, 'instance.restorePoint');
    return CreateInstanceRequest.fromPartial({
      name,
      datastore,
      datastoreVersion: await this.datastores.versionOf(datastore, optStr(ds.version, 'instance.datastore.version')),
      memoryMb,
      databases: optList(b.databases, 'instance.databases', MAX_ITEMS).map((d, i) => databaseOf(d, `instance.databases[${i}]`)),
      users: optList(b.users, 'instance.users', MAX_ITEMS).map((u, i) => userOf(u, `instance.users[${i}]`)),
      backupId: restore ? refId(restore.backupRef, 'instance.restorePoint.backupRef') : '',
    });
  }

  private async action(c: Call): Promise<undefined> {
    const b = obj(c.body ?? null, 'body');
    const keys = Object.keys(b);
    if (keys.length !== 1)
      throw badRequest(`an action body has exactly one key (restart, resize, promote_to_replica_source, eject_replica_source), not ${keys.length}`);
    const [action] = keys;
    const s = this.r.s;
    const id = c.params.id;
    switch (action) {
      case 'restart':
        optObj(b.restart, 'restart');
        await s.call(s.h.instances.restart, { id }, c.caller);
        return undefined;
      case 'promote_to_replica_source':
        await s.call(s.h.replicaSets.promote, { instanceId: id }, c.caller);
        return undefined;
      case 'eject_replica_source': {
        const inst = await this.get(c, id);
        if (inst.role !== ReplicationRole.PRIMARY) throw badRequest(`Instance ${id} is not a replica source.`);
        await s.call(s.h.replicaSets.failover, { id: inst.replicaSetId, force: false }, c.caller);
        return undefined;
      }
      case 'resize': {
        // Trove: {"resize": {"flavorRef": ...}} or {"resize": {"volume": {"size": N}}}.
        const r = obj(b.resize, 'resize');
        if ('volume' in r) {
          await this.get(c, id);
          throw notImplemented('resizing an instance volume');
        }
        if (r.flavorRef === undefined || r.flavorRef === null) throw badRequest('resize.flavorRef: is required');
        const memoryMb = memoryOfFlavor(refId(r.flavorRef, 'resize.flavorRef'));
        await s.call(s.h.instances.resize, { id, memoryMb }, c.caller);
        return undefined;
      }
      case 'reset_status':
        await this.get(c, id);
        throw notImplemented('reset_status');
      default:
        throw badRequest(`Invalid instance action: ${action.slice(0, 64)}`);
    }
  }

  /** PUT and PATCH: rename, detach from the replication source (what Steward has of Trove's edit and update). */
  private async update(c: Call, caller: Caller): Promise<undefined> {
    const b = root(c.body, 'instance');
    const id = c.params.id;
    await this.get(c, id);
    if (Object.keys(b).length === 0) throw badRequest('instance: nothing to update');
    if ('configuration' in b) throw notImplemented('configuration groups');
    if ('access' in b) throw notImplemented('changing an instance’s access');
    if ('datastore_version' in b) throw notImplemented('upgrading an instance');
    const known = new Set(['name', 'replica_of', 'slave_of']);
    const unknown = Object.keys(b).find((k) => !known.has(k));
    if (unknown !== undefined) throw badRequest(`instance: cannot update ${unknown.slice(0, 64)}`);
    const detach = 'replica_of' in b ? b.replica_of : 'slave_of' in b ? b.slave_of : undefined;
    if (detach !== undefined && detach !== null) throw badRequest('instance.replica_of: only null (detach from the replication source) can be set');
    // Every check first: a refused request changes nothing.
    const name = 'name' in b ? checkDisplayName(str(b.name, 'instance.name'), 'instance.name') : undefined;
    if (name !== undefined) await this.r.s.call(this.r.s.h.instances.rename, { id, name }, caller);
    if (detach === null) await this.r.s.call(this.r.s.h.replicaSets.detach, { instanceId: id }, caller);
    return undefined;
  }

  register(): void {
    const r = this.r;
    const s = r.s;
    r.route('GET', '/instances', 200, (c) => this.list(c, false));
    r.route('GET', '/instances/detail', 200, (c) => this.list(c, true));
    r.route('GET', '/instances/:id', 200, async (c) => this.show(c, await this.get(c, c.params.id)));
    r.route('POST', '/instances', 200, async (c) => {
      const res = await s.call(s.h.instances.create, await this.createRequest(c), c.caller);
      return this.show(c, res.instance!);
    });
    r.route('PUT', '/instances/:id', 202, (c) => this.update(c, c.caller));
    r.route('PATCH', '/instances/:id', 202, (c) => this.update(c, c.caller));
    r.route('DELETE', '/instances/:id', 202, async (c) => {
      await s.call(s.h.instances.delete, { id: c.params.id, detachReplicas: false }, c.caller);
      return undefined;
    });
    r.route('POST', '/instances/:id/action', 202, (c) => this.action(c));
    r.route('GET', '/instances/:id/backups', 200, async (c) => {
      const q = pageQuery(c.query, r.config.pageSize);
      const { backups } = await s.call(s.h.backups.list, { instanceId: c.params.id }, c.caller);
      const { page, links } = paginate(
        backups,
        (b) => b.id,
        q,
        (m) => nextHref(c.place.base, `instances/${c.params.id}/backups`, c.query, q.limit, m),
      );
      return { backups: page.map((b) => backupView(b, c.place)), links };
    });
    r.missing('GET', '/instances/:id/configuration', 'configuration groups');
  }
}
