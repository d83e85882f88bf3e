// A real Cassandra ring through the controller: create 3 members, write at
// QUORUM with RF 3, grow to 4 with the controller restarted in the middle of the
// grow, check every member's peers and the data, shrink back to 3 by
// decommission, delete, and check nothing is left.
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import cassandra from 'cassandra-driver';
import { call, startTestController, waitFor, type TestController } from '../fixtures/controller.js';
import { http } from '../fixtures/trove-http.js';
import { cassandraHome, cassandraUnavailableReason, TEST_JVM_OPTIONS } from '../fixtures/cassandra-instance.js';
import { ClusterTask, CreateClusterRequest, GrowClusterRequest, type Cluster } from '../../proto/gen/steward/v1/clusters.js';
import { OperationState, type Operation, type RingView, type RootResult } from '../../proto/gen/steward/v1/common.js';
import { pidsMentioning } from '../../controller/provisioner/processes.js';
import { notificationErrors } from '../../controller/notifications/schema.js';
import type { Notification } from '../../controller/notifications/types.js';

const missing = await cassandraUnavailableReason();
if (missing) console.warn(`SKIPPING Cassandra cluster end-to-end test: ${missing}`);

// Agents inherit these through the local provisioner, as an operator's environment would carry them.
process.env.STEWARD_CASSANDRA_HOME = cassandraHome();
process.env.STEWARD_CASSANDRA_JVM_OPTS = TEST_JVM_OPTIONS.join(' ');

describe.skipIf(!!missing)('Cassandra cluster end to end', () => {
  let t: TestController;
  let cluster: Cluster;
  let root: RootResult;

  const get = () => call<object, Cluster>(t.clients.clusters, 'get', { id: cluster.id });
  const settled = (what: string, timeoutMs = 15 * 60_000) =>
    waitFor(
      what,
      async () => {
        const c = await get();
        if (c.task !== ClusterTask.NONE && ClusterTask[c.task].endsWith('_ERROR')) throw new Error(`cluster failed: ${ClusterTask[c.task]}: ${c.taskMessage}`);
        return c.task === ClusterTask.NONE && c;
      },
      timeoutMs,
      1_000,
    );
  const session = (host: string, port: number) =>
    new cassandra.Client({
      contactPoints: [`${host}:${port}`],
      localDataCenter: 'dc1',
      credentials: { username: root.user, password: root.password },
      policies: {
        loadBalancing: new cassandra.policies.loadBalancing.AllowListPolicy(new cassandra.policies.loadBalancing.DCAwareRoundRobinPolicy('dc1'), [
          `${host}:${port}`,
        ]),
      },
    });
  /** Every member's view of its peers: the addresses system.peers lists on that member. */
  const peersEverywhere = async (c: Cluster) => {
    const views: Record<string, string[]> = {};
    for (const m of c.members) {
      const s = session(m.host, m.port);
      const rs = await s.execute('SELECT peer FROM system.peers');
      views[m.host] = rs.rows.map((r) => String(r.peer)).sort();
      await s.shutdown();
    }
    return views;
  };

  beforeAll(async () => {
    // JVMs starting next door can starve agents of CPU on 2 cores: losing an agent is not what this test is about.
    t = await startTestController({ provisioner: { heartbeatIntervalMs: 1_000 }, missedHeartbeats: 60, trove: { enabled: true, listen: '127.0.0.1:0' } });
  });
  afterAll(async () => t?.close());

  it('creates a 3-member ring, secured once, and data written at QUORUM with RF 3 reads back', async () => {
    cluster = await call<object, Cluster>(
      t.clients.clusters,
      'create',
      CreateClusterRequest.fromPartial({ name: 'ring', datastore: 'cassandra', members: [{ memoryMb: 1024 }, { memoryMb: 1024 }, { memoryMb: 1024 }] }),
    );
    expect(cluster.task).toBe(ClusterTask.BUILDING);
    cluster = await settled('cluster built');
    expect(cluster.members).toHaveLength(3);
    expect(cluster.members.filter((m) => m.seed)).toHaveLength(1);
    const first = cluster.members[0];
    root = await call<object, RootResult>(t.clients.root, 'enable', { id: first.instanceId });
    const ks = await call<object, Operation>(t.clients.databases, 'create', {
      instanceId: first.instanceId,
      databases: [{ name: 'shop', characterSet: '', collation: '', ctype: '', replication: { dc1: 3 } }],
    });
    expect((await call<object, Operation>(t.clients.operations, 'wait', { id: ks.id, timeoutMs: 120_000 })).state).toBe(OperationState.SUCCEEDED);
    const s = session(first.host, first.port);
    await s.execute('CREATE TABLE shop.orders (id int PRIMARY KEY, item text)');
    for (let i = 0; i < 50; i++) {
      await s.execute('INSERT INTO shop.orders (id, item) VALUES (?, ?)', [i, `item-${i}`], {
        prepare: true,
        consistency: cassandra.types.consistencies.quorum,
      });
    }
    await s.shutdown();
    const ring = await call<object, RingView>(t.clients.clusters, 'ring', { id: cluster.id });
    expect(ring.members.filter((m) => m.status === 'up' && m.state === 'normal')).toHaveLength(3);
  });

  it('grows to 4 even when the controller restarts in the middle of the grow', async () => {
    await call(t.clients.clusters, 'grow', GrowClusterRequest.fromPartial({ id: cluster.id, members: [{ memoryMb: 1024 }] }));
    await waitFor('the new member exists', async () => (await get()).members.length === 4, 5 * 60_000, 500);
    await t.restart();
    cluster = await settled('cluster grown');
    expect(cluster.members).toHaveLength(4);
    const views = await peersEverywhere(cluster);
    for (const m of cluster.members) {
      expect(views[m.host]).toEqual(
        cluster.members
          .filter((o) => o.host !== m.host)
          .map((o) => o.host)
          .sort(),
      );
    }
    const s = session(cluster.members[3].host, cluster.members[3].port);
    const rs = await s.execute('SELECT count(*) AS n FROM shop.orders', [], { consistency: cassandra.types.consistencies.quorum });
    expect(Number(rs.first().n)).toBe(50);
    await s.shutdown();
  });

  it('shrinks back to 3 by decommission: the member is gone from every peer list and stopped', async () => {
    const leaving = cluster.members[3];
    const dir = t.controller.provisioner.stateDirOf(leaving.instanceId);
    await call(t.clients.clusters, 'shrink', { id: cluster.id, instanceIds: [leaving.instanceId] });
    cluster = await settled('cluster shrunk');
    expect(cluster.members.map((m) => m.instanceId)).not.toContain(leaving.instanceId);
    const views = await peersEverywhere(cluster);
    for (const m of cluster.members) expect(views[m.host]).not.toContain(leaving.host);
    expect(pidsMentioning(dir)).toEqual([]);
    const s = session(cluster.members[0].host, cluster.members[0].port);
    const rs = await s.execute('SELECT count(*) AS n FROM shop.orders', [], { consistency: cassandra.types.consistencies.quorum });
    expect(Number(rs.first().n)).toBe(50);
    await s.shutdown();
  });

  it("root through the Trove API's cluster root: enabled through one member, the password valid on every member", async () => {
    const { tenant_id: tenant } = await t.controller.store.selectFrom('clusters').select('tenant_id').where('id', '=', cluster.id).executeTakeFirstOrThrow();
    const trove = (method: string) =>
      http(t.controller.troveUrl!, readFileSync(t.controller.caFile), method, `/v1.0/${tenant}/clusters/${cluster.id}/root`, {
        token: t.controller.adminToken,
      });
    const enabled = await trove('POST');
    expect(enabled.status, enabled.text).toBe(200);
    const user = (enabled.body as { user: { name: string; password: string } }).user;
    expect(user.name).toBe(root.user);
    root = { ...root, password: user.password }; // a new password: the later steps use it
    // Each node caches credentials (credentials_validity_in_ms, 2 s by default): the new password is
    // accepted everywhere once the old entry expires, the old one no longer.
    for (const m of cluster.members) {
      await waitFor(
        `the new root password accepted by ${m.host}`,
        async () => {
          const s = session(m.host, m.port);
          try {
            return !!(await s.execute('SELECT count(*) AS n FROM shop.orders')).first();
          } finally {
            await s.shutdown();
          }
        },
        30_000,
        500,
      );
    }
    const shown = await trove('GET');
    expect(shown.body).toEqual({ rootEnabled: true });
  });

  it('deletes the cluster: no member, process or directory left', async () => {
    const dirs = cluster.members.map((m) => t.controller.provisioner.stateDirOf(m.instanceId));
    await call(t.clients.clusters, 'delete', { id: cluster.id });
    await waitFor(
      'cluster gone',
      () =>
        get().then(
          () => false,
          (e) => e.code === 5,
        ),
      5 * 60_000,
      1_000,
    );
    for (const d of dirs) {
      expect(pidsMentioning(d)).toEqual([]);
      expect(existsSync(d)).toBe(false);
    }
  });

  it('raised the cluster events of the Ceilometer page, in order, with the cluster payload', async () => {
    const path = t.controller.notifications.filePath!;
    const events = await waitFor(
      'cluster.delete.end in the file',
      async () => {
        const all = readFileSync(path, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Notification);
        const mine = all.filter((e) => e.event_type.startsWith('cluster.') && e.payload.id === cluster.id);
        return mine.some((e) => e.event_type === 'cluster.delete.end') && mine;
      },
      60_000,
    );
    expect(events.map((e) => e.event_type)).toEqual([
      'cluster.create.start',
      'cluster.create.end',
      'cluster.resize.start',
      'cluster.resize.end', // grow, across a controller restart
      'cluster.resize.start',
      'cluster.resize.end', // shrink
      'cluster.delete.start',
      'cluster.delete.end',
    ]);
    for (const e of events) expect(notificationErrors(e), e.event_type).toEqual([]);
    const sizes = events.map((e) => e.payload.cluster_size);
    expect(sizes).toEqual([0, 3, 3, 4, 4, 3, 3, 3]);
    const end = events[1].payload as { name: string; datastore: { type: string; version: string }; task: { name: string }; instances: Array<{ type: string }> };
    expect(end.name).toBe('ring');
    expect(end.datastore.type).toBe('cassandra');
    expect(end.datastore.version).toMatch(/^5\.0/);
    expect(end.instances.every((i) => i.type === 'member')).toBe(true);
    expect(events.map((e) => (e.payload.task as { name: string }).name)).toEqual([
      'BUILDING',
      'NONE',
      'GROWING_CLUSTER',
      'NONE',
      'SHRINKING_CLUSTER',
      'NONE',
      'DELETING',
      'DELETING',
    ]);
  });
});
