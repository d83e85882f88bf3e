// Rejoin: how long a deposed primary takes to follow the new one again on a
// 100 MB data set (MariaDB: GTID check and CHANGE MASTER; PostgreSQL:
// pg_rewind; Redis: partial resync), against re-cloning the same data (a new
// replica from a fresh backup) in the same run. Synchronous replication, so
// that a killed primary has no write the others lack and rejoins without a
// re-clone.
//   npx tsx bench/rejoin.ts [mysql|postgresql|redis] [trials=3] [MB=100]
import { allFollowing, createInstance, failedOver, getSet, settled } from '../test/fixtures/replication.js';
import { call, waitFor } from '../test/fixtures/controller.js';
import { datastoreOf, stewardSet } from './replication/common.js';
import { summarize } from './stats.js';

const ds = await datastoreOf(process.argv[2] ?? 'mysql');
const TRIALS = Number(process.argv[3] ?? 3);
const MB = Number(process.argv[4] ?? 100);

const { t, setId } = await stewardSet(ds, { synchronous: ds.name === 'MariaDB' || ds.name === 'PostgreSQL' });
try {
  const set = await getSet(t, setId);
  const p = set.members.find((m) => m.instanceId === set.primaryId)!;
  const t0 = Date.now();
  await ds.load(p.host, p.port, MB);
  console.log(`loaded ${MB} MB in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await allFollowing(t, setId, 600_000);

  const clones: number[] = [];
  const rejoins: number[] = [];
  let recloned = 0;
  for (let i = 0; i < TRIALS; i++) {
    // Re-clone: a new replica made from a fresh backup (what a rejoin that finds errant writes does).
    const c0 = Date.now();
    const made = await createInstance(t, { name: `clone-${i}`, replicaOf: (await getSet(t, setId)).primaryId });
    await settled(t, setId, 900_000);
    await allFollowing(t, setId, 900_000);
    clones.push(Date.now() - c0);
    await call(t.clients.instances, 'delete', { id: made.instance!.id, detachReplicas: false });
    await waitFor('the clone gone', async () => (await getSet(t, setId)).members.length === 3, 120_000);

    const before = await allFollowing(t, setId, 600_000);
    process.kill(ds.serverPid(t, before.primaryId), 'SIGKILL');
    await failedOver(t, setId, before.primaryId);
    const r0 = Date.now();
    const after = await allFollowing(t, setId, 900_000);
    rejoins.push(Date.now() - r0);
    if (/re-cloned/.test(after.statusMessage)) recloned++;
  }
  const c = summarize(clones);
  const r = summarize(rejoins);
  console.log(`\n${ds.name}, ${MB} MB, ${TRIALS} trials:`);
  console.log(`rejoin of the deposed primary  p50 ${r.p50} ms  (all: ${rejoins.join(', ')}; re-cloned instead: ${recloned})`);
  console.log(`re-clone (new replica from a fresh backup)  p50 ${c.p50} ms  (all: ${clones.join(', ')})`);
  console.log(`ratio (p50): rejoin takes ${((r.p50 / c.p50) * 100).toFixed(1)}% of a re-clone`);
} finally {
  await t.close();
}
