// Failover: write unavailability seen by a client writing every 10 ms, and
// acknowledged writes lost, after kill -9 of the primary's server (its agent
// alive) and after kill -9 of the primary's agent and server together, for
// Steward's automatic failover against the same promotion run by hand the
// moment the server dies (an operator who never sleeps), in the same run.
// With `sync`, the Steward set runs synchronous replication (0 loss expected).
//   npx tsx bench/failover.ts [mysql|postgresql|redis] [trials=10] [sync]
import { allFollowing, failedOver } from '../test/fixtures/replication.js';
import { datastoreOf, handTrial, report, stewardSet, stewardTrial, type Trial } from './replication/common.js';

const ds = await datastoreOf(process.argv[2] ?? 'mysql');
const TRIALS = Number(process.argv[3] ?? 10);
const synchronous = process.argv[4] === 'sync';

const { t, setId } = await stewardSet(ds, { synchronous });
const hand = await ds.byHand();
try {
  const serverKill: Trial[] = [];
  const machineKill: Trial[] = [];
  const byHand: Trial[] = [];
  let row = 1;
  for (let i = 0; i < TRIALS; i++) {
    let set = await allFollowing(t, setId, 600_000);
    serverKill.push(
      await stewardTrial(t, setId, ds, row, async () => {
        process.kill(ds.serverPid(t, set.primaryId), 'SIGKILL');
        await failedOver(t, setId, set.primaryId);
      }),
    );
    row += 100_000;
    set = await allFollowing(t, setId, 600_000);
    const old = set.primaryId;
    t.controller.provisioner.setDown(old, true);
    machineKill.push(
      await stewardTrial(t, setId, ds, row, async () => {
        process.kill((await t.controller.provisioner.agentPid(old))!, 'SIGKILL');
        process.kill(ds.serverPid(t, old), 'SIGKILL');
        await failedOver(t, setId, old);
      }),
    );
    t.controller.provisioner.setDown(old, false);
    row += 100_000;
    byHand.push(await handTrial(hand, ds, row, () => hand.failover((hand.primary + 1) % hand.members.length)));
    await hand.heal();
    row += 100_000;
  }
  const lostAfter = t.config.missedHeartbeats * t.config.provisioner.heartbeatIntervalMs;
  console.log(`\n${ds.name} failover${synchronous ? ' (synchronous)' : ''}, ${TRIALS} trials each, a write every 10 ms:`);
  const a = report('Steward, server kill -9 (agent alive)', serverKill);
  const b = report('Steward, agent + server kill -9', machineKill);
  const h = report('by hand, server kill -9, promoted at once', byHand);
  console.log(`ratio (p50, server kill): ${(a.p50 / h.p50).toFixed(1)}x   target: p50 < 3000 ms (${a.p50 < 3000 ? 'met' : 'missed'})`);
  console.log(`agent + server: p95 ${b.p95} ms; target: lost-agent detection (${lostAfter} ms) + 5000 ms (${b.p95 < lostAfter + 5000 ? 'met' : 'missed'})`);
} finally {
  await hand.close();
  await t.close();
}
