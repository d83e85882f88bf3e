// Which replica a failover promotes. Only the replicas of the failed primary
// that answer now are candidates, each by the position it reports this moment
// (not a heartbeat's). The winner has everything every other candidate has
// (received, not only applied: promote applies its relay log first); a
// replica whose position is not a superset of the others' is never chosen.
// Synchronous sets refuse while a replica is silent (it may hold the last
// acknowledged commit); asynchronous ones refuse when the winner lags the
// primary's last report by more than max_lag. `force` overrides both.
import type { ReplicationStatus } from '../../proto/gen/steward/v1/replication.js';
import { ReplicationRole } from '../../proto/gen/steward/v1/replication.js';
import { payload, resultOf } from '../../managers/sdk/operations/payload.js';
import type { ReplicationStrategy } from '../../managers/sdk/replication.js';
import type { ReplicaSetsTable } from '../store/schema.js';
import { decodeReplication } from './report.js';
import type { ReplicationService } from './service.js';

export type Choice = { candidateId: string; note?: string } | { refused: string };

interface Candidate {
  id: string;
  status: ReplicationStatus;
}

const reach = (c: Candidate): string => c.status.received || c.status.position;

/** The candidate that has everything each other one has, if there is one. */
export function mostAdvanced(strategy: ReplicationStrategy, candidates: Candidate[]): Candidate | undefined {
  return candidates.find((c) => candidates.every((o) => o === c || (strategy.compare(reach(c), reach(o)) ?? -1) >= 0));
}

export async function chooseCandidate(svc: ReplicationService, set: ReplicaSetsTable, oldId: string, force: boolean, timeoutMs: number): Promise<Choice> {
  const strategy = svc.strategyOf(set.datastore);
  const replicas = (await svc.members(set.id)).filter((m) => m.replica_of === oldId && m.id !== oldId);
  const answers = await Promise.all(
    replicas.map(async (m) => {
      try {
        const status = resultOf(await svc.d.operations.call(m.id, payload('replicationStatus', {}), timeoutMs, { requireConnected: false }), 'replication');
        return status?.role === ReplicationRole.REPLICA ? { id: m.id, status } : undefined;
      } catch {
        return undefined;
      }
    }),
  );
  const candidates = answers.filter((a): a is Candidate => !!a);
  const silent = replicas.filter((r) => !candidates.some((c) => c.id === r.id)).map((r) => r.id);
  if (!candidates.length) return { refused: `no replica of ${oldId} answers (${silent.join(', ') || 'none'}): there is nothing to promote` };
  if (set.synchronous === 1 && silent.length && !force) {
    return {
      refused: `synchronous replica set: ${silent.join(', ')} did not answer and may hold the last acknowledged commit; failover refused (force to promote anyway)`,
    };
  }
  const best = mostAdvanced(strategy, candidates) ?? (force ? candidates[0] : undefined);
  if (!best) {
    return {
      refused: `the replicas of ${oldId} have diverged (none has every transaction the others have): failover refused (force to promote ${candidates[0].id})`,
    };
  }
  const primaryRow = await svc.d.store.selectFrom('agents').select('replication').where('instance_id', '=', oldId).executeTakeFirst();
  const lastKnown = decodeReplication(primaryRow?.replication ?? null)?.position ?? '';
  const lag = lastKnown ? (strategy.distance(lastKnown, reach(best)) ?? 0) : 0;
  if (set.synchronous !== 1 && lag > Number(set.max_lag) && !force) {
    return {
      refused: `the most advanced replica ${best.id} is ${lag} ${strategy.lagUnit} behind the primary's last report (max_lag ${set.max_lag}): automatic failover refused; fail over with force to accept the loss`,
    };
  }
  const notes = [
    silent.length ? `not answering at failover: ${silent.join(', ')}` : '',
    lag > 0 ? `${best.id} was ${lag} ${strategy.lagUnit} behind the old primary's last report` : '',
  ].filter(Boolean);
  return { candidateId: best.id, note: notes.join('; ') || undefined };
}
