// Cassandra through Steward against the bare bootstrap of the same kind of node
// in the same run: cluster create time for 3 members, time to add a member
// (Steward's grow: provision, agent start and enrollment, join with bootstrap,
// seeds pushed, cleanup on the old members), and a bare join of a node with
// the same settings started by hand through the manager (no controller, agent
// or orchestration). Peak memory of the machine is sampled throughout.
//   npx tsx bench/cassandra-cluster.ts
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { call, startTestController, waitFor } from '../test/fixtures/controller.js';
import { cassandraHome, createCassandraNode, testOp, TEST_JVM_OPTIONS } from '../test/fixtures/cassandra-instance.js';
import { ClusterTask, CreateClusterRequest, GrowClusterRequest, type Cluster } from '../proto/gen/steward/v1/clusters.js';
import { PrepareRequest } from '../proto/gen/steward/v1/agent.js';
import { SecretBox } from '../controller/secret-box.js';

process.env.STEWARD_CASSANDRA_HOME = cassandraHome();
process.env.STEWARD_CASSANDRA_JVM_OPTS = TEST_JVM_OPTIONS.join(' ');

let peakUsedMb = 0;
const sampler = setInterval(() => {
  const m = Object.fromEntries(
    readFileSync('/proc/meminfo', 'utf8')
      .split('\n')
      .map((l) => [l.split(':')[0], parseInt(l.split(':')[1] ?? '0', 10)]),
  );
  peakUsedMb = Math.max(peakUsedMb, (m.MemTotal - m.MemAvailable) / 1024);
}, 500);

const t = await startTestController({ provisioner: { heartbeatIntervalMs: 1_000 } });
const settle = (id: string) =>
  waitFor(
    'cluster settled',
    async () => {
      const c = await call<object, Cluster>(t.clients.clusters, 'get', { id });
      if (ClusterTask[c.task].endsWith('_ERROR')) throw new Error(c.taskMessage);
      return c.task === ClusterTask.NONE && c;
    },
    20 * 60_000,
    500,
  );
try {
  let t0 = performance.now();
  let cluster = await call<object, Cluster>(
    t.clients.clusters,
    'create',
    CreateClusterRequest.fromPartial({ name: 'bench', datastore: 'cassandra', members: [{}, {}, {}] }),
  );
  cluster = await settle(cluster.id);
  const createMs = performance.now() - t0;

  t0 = performance.now();
  await call(t.clients.clusters, 'grow', GrowClusterRequest.fromPartial({ id: cluster.id, members: [{}] }));
  cluster = await settle(cluster.id);
  const growMs = performance.now() - t0;

  // The bare join: same manager code and settings, started by hand, joining the same ring.
  const row = await t.controller.store.selectFrom('clusters').selectAll().where('id', '=', cluster.id).executeTakeFirstOrThrow();
  const password = SecretBox.loadOrCreate(join(t.dataDir, 'pki', 'secrets.key')).open(row.admin_secret, cluster.id);
  const seed = cluster.members.find((m) => m.seed)!;
  const node = await createCassandraNode({ address: '127.0.200.1', port: seed.port, storagePort: 7000, name: 'bare' });
  t0 = performance.now();
  await node.manager.prepare(
    PrepareRequest.fromPartial({
      cluster: {
        clusterId: cluster.id,
        clusterName: 'bench',
        seeds: [seed.host],
        autoBootstrap: true,
        dataCenter: 'dc1',
        rack: 'rack1',
        adminUser: 'steward_cluster_admin',
        adminPassword: password,
      },
    }),
    testOp(),
  );
  const bareMs = performance.now() - t0;
  await node.manager.cluster!.decommission(testOp());
  await node.teardown();

  console.log('Cassandra 5.0, 2 cores, heap 512 MB per node (memoryMb 1024):');
  console.log(`  create a 3-member cluster through Steward: ${(createMs / 1000).toFixed(1)} s`);
  console.log(`  add a member through Steward (grow):       ${(growMs / 1000).toFixed(1)} s`);
  console.log(`  bare join of the same kind of node:        ${(bareMs / 1000).toFixed(1)} s`);
  console.log(`  ratio grow / bare join: ${(growMs / bareMs).toFixed(2)}x`);
  console.log(`  peak memory used on the machine: ${peakUsedMb.toFixed(0)} MiB`);
  await call(t.clients.clusters, 'delete', { id: cluster.id });
  await waitFor(
    'deleted',
    () =>
      call(t.clients.clusters, 'get', { id: cluster.id }).then(
        () => false,
        () => true,
      ),
    5 * 60_000,
    1_000,
  );
} finally {
  clearInterval(sampler);
  await t.close();
}
