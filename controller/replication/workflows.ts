// The replica set workflows (docs/replication.md), persisted step by step by
// the WorkflowRunner: a restarted controller resumes at the step it was in and
// every agent command is keyed, so a resumed step waits for the command it
// already sent instead of sending another.
//   add_replicas: source configured -> seed backup -> replicas prepared from it -> seed dropped
//   switchover:   lag checked -> term+1 -> primary fenced -> candidate caught up
//                 (else rolled back) -> promoted -> others re-pointed -> old primary rejoins
//   failover:     term+1 -> old primary fenced (best effort) -> most advanced replica
//                 chosen -> promoted -> others re-pointed; the old primary rejoins when it is back
//   rejoin:       the former primary follows the new one (re-cloned when it has errant writes)
import { PrepareRequest } from '../../proto/gen/steward/v1/agent.js';
import type { ReplicationStatus } from '../../proto/gen/steward/v1/replication.js';
import { failedPrecondition, hasCode, StewardError } from '../../managers/sdk/errors.js';
import { payload, resultOf } from '../../managers/sdk/operations/payload.js';
import type { CommandPayload } from '../../managers/sdk/operations/payload.js';
import { nowIso } from '../clock.js';
import { instanceTask } from '../states/instance-task.js';
import type { Store } from '../store/open.js';
import type { InstancesTable, ReplicaSetsTable } from '../store/schema.js';
import { ALL_TENANTS } from '../tenancy.js';
import { runKeyed, type Step } from '../workflows.js';
import { emitPromotionEvent } from './events.js';
import { FAMILY, type ReplicationService } from './service.js';
import { replicaSetTask, WORKFLOW_TASKS, type ReplicaSetWorkflow } from './states.js';
import { chooseCandidate } from './candidate.js';

/** What a replica set workflow records as it goes (JSON in the workflow row). */
export interface ReplicaSetData extends Record<string, unknown> {
  input: { sourceId?: string; replicaIds?: string[]; candidateId?: string; oldPrimaryId?: string; force?: boolean; reason?: string; instanceId?: string };
  term?: number;
  oldPrimaryId?: string;
  candidateId?: string;
  /** The fenced primary's last position (switchover) that the candidate must reach. */
  finalPosition?: string;
  promotedAt?: string;
  seedBackupId?: string;
  /** A rejoin that found errant writes and re-cloned. */
  rebuilt?: boolean;
  /** Set when the workflow had nothing to do (a failover whose primary had already changed). */
  skipped?: boolean;
  /** A switchover whose old primary did not rejoin (the detector retries). */
  rejoinFailed?: boolean;
}

export interface ReplicaSetContext {
  setId: string;
  data: ReplicaSetData;
  persist(): Promise<void>;
  run(key: string, instanceId: string, cmd: CommandPayload, timeoutMs?: number): Promise<ReplicationStatus>;
}

/** How long a failover waits for the old primary's agent to fence before going on without it. */
const FENCE_DEAD_PRIMARY_MS = 3_000;
/** How long the candidates of a failover have to report where they are. */
const STATUS_TIMEOUT_MS = 3_000;

export function registerReplicaSetWorkflows(svc: ReplicationService): void {
  const d = svc.d;
  d.runner.register<ReplicaSetContext>(FAMILY, {
    steps: async (_id, kind) => stepsOf(svc, kind as ReplicaSetWorkflow),
    context: async (setId, raw, persist) => {
      const data = raw as ReplicaSetData;
      return {
        setId,
        data,
        persist,
        async run(key, instanceId, cmd, timeoutMs) {
          const result = await runKeyed(d.operations, data, persist, key, instanceId, cmd, timeoutMs);
          return resultOf(result, 'replication') ?? ({} as ReplicationStatus);
        },
      };
    },
    finished: (setId, kind, error, data) => finished(svc, setId, kind as ReplicaSetWorkflow, error, data as ReplicaSetData),
  });
}

function stepsOf(svc: ReplicationService, kind: ReplicaSetWorkflow): Array<Step<ReplicaSetContext>> {
  switch (kind) {
    case 'add_replicas':
      return [
        { name: 'configure-source', run: (c) => configureSource(svc, c) },
        { name: 'seed-backup', run: (c) => seedBackup(svc, c, c.data.input.sourceId!) },
        { name: 'prepare-replicas', run: (c) => prepareReplicas(svc, c) },
        { name: 'drop-seed', run: (c) => dropSeed(svc, c) },
      ];
    case 'switchover':
      return [
        { name: 'check-candidate', run: (c) => checkSwitchover(svc, c) },
        { name: 'fence-primary', run: (c) => fencePrimary(svc, c) },
        { name: 'catch-up', run: (c) => catchUp(svc, c) },
        { name: 'promote', run: (c) => promote(svc, c) },
        { name: 're-point-replicas', run: (c) => repoint(svc, c) },
        { name: 'rejoin-old-primary', run: (c) => rejoinOldPrimary(svc, c) },
      ];
    case 'failover':
      return [
        { name: 'fence-and-choose', run: (c) => fenceAndChoose(svc, c) },
        { name: 'promote', run: (c) => promote(svc, c) },
        { name: 're-point-replicas', run: (c) => repoint(svc, c) },
      ];
    case 'rejoin':
      return [
        { name: 'configure-primary', run: (c) => configureSource(svc, c) },
        { name: 'rejoin', run: (c) => rejoin(svc, c) },
      ];
  }
}

// ---- shared pieces ------------------------------------------------------------------------------------

async function instance(svc: ReplicationService, id: string): Promise<InstancesTable> {
  const row = await svc.d.store.selectFrom('instances').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
  if (!row) throw failedPrecondition(`instance ${id} is gone`);
  return row;
}

/** The next term, taken once per workflow and stored before any command carries it. */
async function takeTerm(svc: ReplicationService, c: ReplicaSetContext, set: ReplicaSetsTable): Promise<number> {
  if (c.data.term) return c.data.term;
  const term = Number(set.term) + 1;
  await svc.d.store.updateTable('replica_sets').set({ term, updated_at: nowIso() }).where('id', '=', set.id).execute();
  c.data.term = term;
  await c.persist();
  return term;
}

/** The source serves every member that follows it (PostgreSQL: a slot each, made before anything streams). */
async function configureSource(svc: ReplicationService, c: ReplicaSetContext): Promise<void> {
  const set = await svc.set(c.setId);
  const sourceId = c.data.input.sourceId ?? set.primary_id;
  const members = await svc.members(set.id);
  await c.run('configure-source', sourceId, payload('configureSource', svc.sourceRequest(set, members, sourceId)));
}

/** A fresh full backup of `sourceId` through the backup pipeline (datastores whose replicas start from one). */
async function seedBackup(svc: ReplicationService, c: ReplicaSetContext, sourceId: string): Promise<void> {
  const set = await svc.set(c.setId);
  if (!svc.strategyOf(set.datastore).seedFromBackup) return;
  const { backups, operations } = svc.d;
  if (!c.data.seedBackupId) {
    const b = await backups.create(ALL_TENANTS, {
      instanceId: sourceId,
      name: `replica seed ${set.id.slice(0, 8)}`,
      description: `Made by replica set ${set.id} to seed a replica; removed once the replica follows its source.`,
      incremental: false,
      parentId: '',
    });
    c.data.seedBackupId = b.id;
    await c.persist();
  }
  const b = await backups.get(ALL_TENANTS, c.data.seedBackupId);
  if (b.operation_id) await operations.finish(await operations.get(b.operation_id));
  const done = await backups.get(ALL_TENANTS, c.data.seedBackupId);
  if (done.status !== 'COMPLETED') throw new StewardError('ABORTED', `the seed backup ${done.id} of ${sourceId} ended ${done.status}: ${done.message}`);
}

/** Each new replica is prepared from the seed backup and follows its source from the backup's position. */
async function prepareReplicas(svc: ReplicationService, c: ReplicaSetContext): Promise<void> {
  const set = await svc.set(c.setId);
  const source = await instance(svc, c.data.input.sourceId!);
  const restore = c.data.seedBackupId ? await svc.d.backups.restoreCommand(ALL_TENANTS, c.data.seedBackupId, set.datastore, '') : undefined;
  await Promise.all(
    (c.data.input.replicaIds ?? []).map(async (id) => {
      const replica = await instance(svc, id);
      const prepare = PrepareRequest.fromPartial({
        memoryMb: replica.memory_mb,
        bindAddress: replica.host,
        port: replica.port,
        restore,
        replicaOf: svc.attachRequest(set, source, replica),
        configuration: await svc.d.instances.configurationValues(replica),
      });
      await runKeyed(svc.d.operations, c.data, c.persist, `prepare-${id}`, id, payload('prepare', prepare));
    }),
  );
}

async function dropSeed(svc: ReplicationService, c: ReplicaSetContext): Promise<void> {
  if (!c.data.seedBackupId) return;
  await svc.d.backups
    .delete(ALL_TENANTS, c.data.seedBackupId, false)
    .catch((err) => svc.d.log.warn({ backupId: c.data.seedBackupId, err: (err as Error).message }, 'could not remove the seed backup; delete it by hand'));
}

// ---- switchover -------------------------------------------------------------------------------------

async function checkSwitchover(svc: ReplicationService, c: ReplicaSetContext): Promise<void> {
  const set = await svc.set(c.setId);
  if (!c.data.oldPrimaryId) {
    c.data.oldPrimaryId = set.primary_id;
    c.data.candidateId = c.data.input.candidateId;
    await c.persist();
  }
  if (set.primary_id !== c.data.oldPrimaryId) return; // resumed after the promotion was recorded
  await svc.checkCandidate(set, await instance(svc, c.data.candidateId!), { awaitAgents: true });
  await takeTerm(svc, c, set);
}

async function fencePrimary(svc: ReplicationService, c: ReplicaSetContext): Promise<void> {
  const set = await svc.set(c.setId);
  if (set.primary_id !== c.data.oldPrimaryId) return;
  const fenced = await c.run('fence', c.data.oldPrimaryId!, payload('fenceWrites', { term: c.data.term! }));
  c.data.finalPosition = fenced.position;
  await c.persist();
}

/** The candidate applies everything the fenced primary wrote, or the switchover is undone. */
async function catchUp(svc: ReplicationService, c: ReplicaSetContext): Promise<void> {
  const set = await svc.set(c.setId);
  if (set.primary_id !== c.data.oldPrimaryId || !c.data.finalPosition) return;
  const timeoutMs = svc.d.settings.catchUpTimeoutMs;
  try {
    await c.run(
      'catch-up',
      c.data.candidateId!,
      payload('waitForPosition', { term: c.data.term!, position: c.data.finalPosition, timeoutMs }),
      timeoutMs + 30_000,
    );
  } catch (err) {
    await c.run('roll-back', c.data.oldPrimaryId!, payload('unfenceWrites', { term: c.data.term! }));
    throw new StewardError(
      'DEADLINE_EXCEEDED',
      `${c.data.candidateId} did not catch up with ${c.data.finalPosition} within ${timeoutMs} ms (${(err as Error).message}): switchover rolled back, ${c.data.oldPrimaryId} is still the primary`,
    );
  }
}

// ---- promotion (switchover and failover) -------------------------------------------------------------

/** The candidate takes writes and serves the others; the store says so in one transaction. */
async function promote(svc: ReplicationService, c: ReplicaSetContext): Promise<void> {
  if (c.data.skipped) return;
  const set = await svc.set(c.setId);
  const oldId = c.data.oldPrimaryId!;
  const newId = c.data.candidateId!;
  if (set.primary_id === oldId) {
    const members = (await svc.members(set.id)).map((m) => (m.replica_of === oldId || m.id === oldId ? { ...m, replica_of: newId } : m));
    const promoted = await c.run(
      'promote',
      newId,
      payload('promoteReplica', { term: c.data.term!, source: svc.sourceRequest(set, members, newId, c.data.term!) }),
    );
    c.data.promotedAt = promoted.position;
    await c.persist();
    await svc.recordPromotion(set, oldId, newId, promoted.position);
  }
}

/** The old primary's other replicas follow the new one (one that cannot is reported, not fatal). */
async function repoint(svc: ReplicationService, c: ReplicaSetContext): Promise<void> {
  if (c.data.skipped) return;
  const set = await svc.set(c.setId);
  const primary = await instance(svc, set.primary_id);
  const others = (await svc.members(set.id)).filter((m) => m.replica_of === primary.id && m.id !== c.data.oldPrimaryId);
  const failed: string[] = [];
  await Promise.all(
    others.map(async (m) => {
      try {
        await c.run(`re-point-${m.id}`, m.id, payload('attachReplica', svc.attachRequest(set, primary, m, c.data.term!)));
      } catch (err) {
        failed.push(`${m.id}: ${(err as Error).message}`);
      }
    }),
  );
  if (failed.length) await svc.setStatus(set.id, `replicas not following the new primary yet: ${failed.join('; ')}`);
}

/** Switchover's last step: the fenced old primary follows the new one; one that cannot is left pending. */
async function rejoinOldPrimary(svc: ReplicationService, c: ReplicaSetContext): Promise<void> {
  try {
    await rejoin(svc, c, c.data.oldPrimaryId!);
  } catch (err) {
    svc.d.log.warn(
      { replicaSetId: c.setId, instanceId: c.data.oldPrimaryId, err: (err as Error).message },
      'the old primary did not rejoin; retried when it reports',
    );
    c.data.rejoinFailed = true;
    await c.persist();
    await svc.setStatus(c.setId, `former primary ${c.data.oldPrimaryId} has not rejoined yet: ${(err as Error).message}`);
  }
}

// ---- failover -----------------------------------------------------------------------------------------

async function fenceAndChoose(svc: ReplicationService, c: ReplicaSetContext): Promise<void> {
  const set = await svc.set(c.setId);
  const oldId = c.data.input.oldPrimaryId!;
  if (!c.data.oldPrimaryId) {
    if (set.primary_id !== oldId) {
      c.data.skipped = true; // another failover got there first
      await c.persist();
      return;
    }
    c.data.oldPrimaryId = oldId;
  }
  if (c.data.candidateId) return;
  const term = await takeTerm(svc, c, set);
  await svc.d.store.transaction().execute((trx) => instanceTask.move(trx, oldId, 'EJECTING'));
  // Best effort: an agent that answers fences its datastore now; a lost one has fenced itself when its lease ran out.
  await c
    .run('fence', oldId, payload('fenceWrites', { term }), FENCE_DEAD_PRIMARY_MS)
    .catch((err) =>
      svc.d.log.warn({ replicaSetId: set.id, instanceId: oldId, err: (err as Error).message }, 'the old primary could not be fenced; relying on its lease'),
    );
  const choice = await chooseCandidate(svc, set, oldId, c.data.input.force ?? false, STATUS_TIMEOUT_MS);
  if ('refused' in choice) {
    await svc.setStatus(set.id, choice.refused);
    throw failedPrecondition(choice.refused);
  }
  c.data.candidateId = choice.candidateId;
  await c.persist();
  await svc.d.store.transaction().execute((trx) => instanceTask.move(trx, choice.candidateId, 'PROMOTING'));
  await svc.setStatus(set.id, choice.note ?? '');
}

// ---- rejoin -------------------------------------------------------------------------------------------

/**
 * A former primary follows the current one. Errant writes (DATA_LOSS from the
 * agent) mean it is rebuilt from a fresh backup of the primary, and the set's
 * status says so.
 */
async function rejoin(svc: ReplicationService, c: ReplicaSetContext, id = c.data.input.instanceId!): Promise<void> {
  const set = await svc.set(c.setId);
  const primary = await instance(svc, set.primary_id);
  const me = await instance(svc, id);
  const term = c.data.term ?? Number(set.term);
  if (!c.data.rebuilt) {
    try {
      await c.run(`rejoin-${id}`, id, payload('rejoin', { attach: svc.attachRequest(set, primary, me, term), promotedAt: set.promoted_at }));
    } catch (err) {
      if (!hasCode(err, 'DATA_LOSS')) throw err;
      c.data.rebuilt = true;
      await c.persist();
      await svc.setStatus(set.id, `former primary ${id} had writes the new primary never received: re-cloned from a backup of ${primary.id}`);
    }
  }
  if (c.data.rebuilt) {
    await seedBackup(svc, c, primary.id);
    const restore = c.data.seedBackupId ? await svc.d.backups.restoreCommand(ALL_TENANTS, c.data.seedBackupId, set.datastore, '') : undefined;
    const prepare = PrepareRequest.fromPartial({
      memoryMb: me.memory_mb,
      bindAddress: me.host,
      port: me.port,
      restore,
      replicaOf: svc.attachRequest(set, primary, me, term),
      configuration: await svc.d.instances.configurationValues(me),
    });
    await c.run(`rebuild-${id}`, id, payload('rebuildReplica', prepare));
    await dropSeed(svc, c);
  }
  await svc.recordRejoined(set.id, id);
}

// ---- the end of a workflow ------------------------------------------------------------------------------

async function finished(svc: ReplicationService, setId: string, kind: ReplicaSetWorkflow, error: Error | undefined, data: ReplicaSetData): Promise<void> {
  const { store, notifier } = svc.d;
  const task = WORKFLOW_TASKS[kind];
  await notifier.transaction(store, async (trx) => {
    await replicaSetTask.move(trx, setId, error ? task.failed : 'NONE', error?.message ?? '');
    await settleInstanceTasks(trx, kind, error, data);
    if ((kind === 'switchover' || kind === 'failover') && !data.skipped) {
      const set = await trx.selectFrom('replica_sets').selectAll().where('id', '=', setId).executeTakeFirst();
      await emitPromotionEvent(notifier, trx, {
        action: kind === 'switchover' ? 'promote' : 'failover',
        phase: error ? 'error' : 'end',
        setId,
        oldPrimaryId: data.oldPrimaryId ?? data.input.oldPrimaryId ?? '',
        newPrimaryId: error ? (data.candidateId ?? data.input.candidateId ?? data.input.oldPrimaryId ?? '') : (set?.primary_id ?? ''),
        term: Number(set?.term ?? data.term ?? 0),
        exception: error?.message,
      });
    }
  });
  if (error) svc.d.log.error({ replicaSetId: setId, kind, err: error.message }, 'replica set workflow failed');
  else svc.d.log.info({ replicaSetId: setId, kind }, 'replica set workflow finished');
}

/** The members' tasks after a workflow: done, or (a former primary still to rejoin) left EJECTING. */
async function settleInstanceTasks(trx: Store, kind: ReplicaSetWorkflow, error: Error | undefined, data: ReplicaSetData): Promise<void> {
  const candidate = data.candidateId ?? data.input.candidateId;
  if (candidate) await instanceTask.move(trx, candidate, 'NONE');
  const old = data.oldPrimaryId ?? data.input.instanceId;
  if (!old) return;
  if (kind === 'failover' && !error && !data.skipped) return; // it rejoins when it is back
  if ((kind === 'rejoin' && error) || data.rejoinFailed) {
    await instanceTask.move(trx, old, 'EJECTING_ERROR', error?.message ?? 'not rejoined yet: retried when it reports');
    return;
  }
  await instanceTask.move(trx, old, 'NONE');
}
