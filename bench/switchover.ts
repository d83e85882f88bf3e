// Switchover: write unavailability seen by a client writing every 10 ms, and
// acknowledged writes lost (must be 0), for Steward's `instance promote`
// against the same steps run by hand with the datastore's own commands on
// three servers of the same datastore, in the same run.
//   npx tsx bench/switchover.ts [mysql|postgresql|redis] [trials=10]
import { promote, settled } from '../test/fixtures/replication.js';
import { datastoreOf, handTrial, report, stewardSet, stewardTrial, type Trial } from './replication/common.js';

const ds = await datastoreOf(process.argv[2] ?? 'mysql');
const TRIALS = Number(process.argv[3] ?? 10);

const { t, setId } = await stewardSet(ds);
const hand = await ds.byHand();
try {
  const steward: Trial[] = [];
  const byHand: Trial[] = [];
  let row = 1;
  for (let i = 0; i < TRIALS; i++) {
    const set = await settled(t, setId);
    const candidate = set.members.find((m) => m.instanceId !== set.primaryId)!.instanceId;
    steward.push(
      await stewardTrial(t, setId, ds, row, async () => {
        await promote(t, candidate);
        await settled(t, setId);
      }),
    );
    row += 100_000;
    byHand.push(await handTrial(hand, ds, row, () => hand.switchover((hand.primary + 1) % hand.members.length)));
    row += 100_000;
  }
  console.log(`\n${ds.name} switchover, ${TRIALS} trials each, a write every 10 ms:`);
  const s = report('Steward (instance promote)', steward);
  const h = report('by hand (datastore commands)', byHand);
  console.log(`ratio (p50): ${(s.p50 / h.p50).toFixed(1)}x   target: Steward p50 < 2000 ms (${s.p50 < 2000 ? 'met' : 'missed'})`);
} finally {
  await hand.close();
  await t.close();
}
