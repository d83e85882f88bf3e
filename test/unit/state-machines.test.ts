// Each state module: its legal moves, its refusals, and (for the stored
// tasks) the guarded update that keeps two writers from both moving a row.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { operationStates, isTerminal, failureState, OperationState, UNFINISHED, updates } from '../../managers/sdk/operations/state.js';
import { StewardError } from '../../managers/sdk/errors.js';
import { instanceTask, instanceTasks, isIdle, instanceTaskProto } from '../../controller/states/instance-task.js';
import { clusterTask, clusterTasks, WORKFLOW_TASKS } from '../../controller/states/cluster-task.js';
import { memberStates, memberStateProto } from '../../controller/states/member-state.js';
import { workflowStates } from '../../controller/states/workflow-state.js';
import { backupStatuses, backupTransitions, isBackupRunning, backupStatusProto } from '../../controller/backups/status.js';
import { openSqliteStore, type Store } from '../../controller/store/open.js';
import { InstanceTask } from '../../proto/gen/steward/v1/api.js';
import { MemberState } from '../../proto/gen/steward/v1/clusters.js';
import { BackupStatus } from '../../proto/gen/steward/v1/backups.js';
import { thrown } from '../fixtures/datastore-assertions.js';
import { clusterRow, instanceRow } from '../fixtures/store-rows.js';

describe('operation state', () => {
  it('moves PENDING -> RUNNING -> one terminal state, and never out of a terminal one', () => {
    expect(operationStates.canMove(OperationState.PENDING, OperationState.RUNNING)).toBe(true);
    expect(operationStates.canMove(OperationState.RUNNING, OperationState.RUNNING)).toBe(true); // progress
    expect(operationStates.canMove(OperationState.PENDING, OperationState.CANCELLED)).toBe(true);
    for (const done of [OperationState.SUCCEEDED, OperationState.FAILED, OperationState.CANCELLED]) {
      expect(isTerminal(done)).toBe(true);
      for (const to of [OperationState.PENDING, OperationState.RUNNING, OperationState.SUCCEEDED, OperationState.FAILED]) {
        expect(operationStates.canMove(done, to)).toBe(false);
      }
      expect(thrown(() => operationStates.move(done, OperationState.RUNNING)).message).toMatch(/cannot move to RUNNING/);
    }
    expect(operationStates.canMove(OperationState.RUNNING, OperationState.PENDING)).toBe(false);
    expect(operationStates.sourcesOf(OperationState.SUCCEEDED).sort()).toEqual([...UNFINISHED].sort());
  });

  it('a failure is CANCELLED only when a cancel caused it; updates carry the code and the bytes', () => {
    expect(failureState('CANCELLED')).toBe(OperationState.CANCELLED);
    expect(failureState('DEADLINE_EXCEEDED')).toBe(OperationState.FAILED);
    const f = updates.failed('o', new StewardError('ABORTED', 'agent restarted'), 40);
    expect([f.state, f.progress, f.error?.code, f.message]).toEqual([OperationState.FAILED, 40, 10, 'agent restarted']);
    const r = updates.running('o', 250.7, 'streaming', { done: 10, total: 20 });
    expect([r.progress, r.bytesDone, r.bytesTotal]).toEqual([100, 10, 20]);
  });
});

describe('instance task', () => {
  it('lets operations and deletion move it, and refuses the moves nobody wrote down', () => {
    expect(instanceTasks.canMove('NONE', 'REBOOTING')).toBe(true);
    expect(instanceTasks.canMove('REBOOTING', 'REBOOTING_ERROR')).toBe(true);
    expect(instanceTasks.canMove('REBOOTING_ERROR', 'REBOOTING')).toBe(true); // a failed restart may be retried
    expect(instanceTasks.canMove('BUILDING_ERROR', 'NONE')).toBe(false); // a failed build is deleted, not revived
    expect(instanceTasks.canMove('DELETING', 'NONE')).toBe(false);
    expect(instanceTasks.canMove('BUILDING', 'REBOOTING')).toBe(false);
    expect(thrown(() => instanceTasks.move('DELETING', 'REBOOTING')).code).toBe('INTERNAL');
    expect(isIdle('NONE') && !isIdle('REBOOTING_ERROR')).toBe(true);
    expect(instanceTaskProto('BUILDING_ERROR')).toBe(InstanceTask.BUILDING_ERROR);
    expect(instanceTaskProto('nonsense')).toBe(InstanceTask.UNSPECIFIED);
  });
});

describe('cluster task, member state and workflow state', () => {
  it('one workflow at a time; members move forward; a finished workflow stays finished', () => {
    expect(clusterTasks.canMove('NONE', 'GROWING')).toBe(true);
    expect(clusterTasks.canMove('GROWING', 'SHRINKING')).toBe(false);
    expect(clusterTasks.canMove('BUILDING', 'DELETING')).toBe(false);
    for (const k of ['create', 'grow', 'shrink'] as const) expect(clusterTasks.canMove(WORKFLOW_TASKS[k].running, WORKFLOW_TASKS[k].failed)).toBe(true);
    expect(memberStates.canMove('building', 'active')).toBe(true);
    expect(memberStates.canMove('active', 'building')).toBe(false);
    expect(memberStates.canMove('removed', 'active')).toBe(false);
    expect(memberStateProto('leaving')).toBe(MemberState.LEAVING);
    expect(workflowStates.canMove('RUNNING', 'SUCCEEDED')).toBe(true);
    expect(workflowStates.canMove('FAILED', 'RUNNING')).toBe(false);
  });
});

describe('backup status', () => {
  it('moves forward only, each transition setting its message; deletes may fail again and again', () => {
    expect(backupTransitions.started({ status: 'NEW' })?.status).toBe('BUILDING');
    expect(backupTransitions.started({ status: 'SAVING' })).toBeUndefined(); // never back
    expect(backupTransitions.saving({ status: 'BUILDING' })?.status).toBe('SAVING');
    expect(backupTransitions.saving({ status: 'SAVING' })).toBeUndefined();
    expect(backupTransitions.failed({ status: 'SAVING' }, 'disk full')).toMatchObject({ status: 'FAILED', message: 'disk full' });
    expect(backupTransitions.completed({ status: 'SAVING' }, { size: 5 })).toMatchObject({ status: 'COMPLETED', size: 5, message: '' });
    expect(thrown(() => backupTransitions.completed({ status: 'FAILED' }, {})).code).toBe('INTERNAL');
    expect(thrown(() => backupTransitions.failed({ status: 'COMPLETED' }, 'x')).code).toBe('INTERNAL');
    expect(backupStatuses.canMove('DELETE_FAILED', 'DELETE_FAILED')).toBe(true);
    expect(isBackupRunning('SAVING') && !isBackupRunning('COMPLETED')).toBe(true);
    expect(backupStatusProto('SAVING')).toBe(BackupStatus.SAVING);
  });
});

describe('the stored task columns (guarded updates on a real store)', () => {
  let store: Store;
  beforeEach(async () => {
    store = await openSqliteStore(':memory:');
    await store
      .insertInto('instances')
      .values(instanceRow({ id: 'i', tenant_id: 't', host: '', port: 0 }))
      .execute();
    await store
      .insertInto('clusters')
      .values(clusterRow({ id: 'c', tenant_id: 't', task: 'BUILDING' }))
      .execute();
  });
  afterEach(async () => store.destroy());
  const taskOf = async (table: 'instances' | 'clusters', id: string) =>
    await store.selectFrom(table).select(['task', 'task_message']).where('id', '=', id).executeTakeFirstOrThrow();

  it('moves a row only from a state that may move there, keeping the reason of a failure', async () => {
    await instanceTask.begin(store, 'i', 'REBOOTING');
    expect(await instanceTask.move(store, 'i', 'NONE')).toBe(true);
    // Two restarts racing: the second finds the task already moved and is refused, changing nothing.
    await instanceTask.begin(store, 'i', 'REBOOTING');
    const second = await instanceTask.begin(store, 'i', 'REBOOTING').then(
      () => undefined,
      (e: StewardError) => e,
    );
    expect([second?.code, second?.message]).toEqual(['FAILED_PRECONDITION', 'instance i is REBOOTING']);
    expect(await instanceTask.move(store, 'i', 'REBOOTING_ERROR', 'server did not come back')).toBe(true);
    expect(await taskOf('instances', 'i')).toEqual({ task: 'REBOOTING_ERROR', task_message: 'server did not come back' });
    expect(await instanceTask.move(store, 'i', 'NONE')).toBe(false);
    expect((await taskOf('instances', 'i')).task).toBe('REBOOTING_ERROR');
    expect(await clusterTask.move(store, 'c', 'DELETING')).toBe(false); // a building cluster is not deleted under its workflow
    expect(await clusterTask.move(store, 'c', 'NONE')).toBe(true);
    expect(thrown(() => instanceTask.parse('EXPLODING')).code).toBe('FAILED_PRECONDITION');
  });
});
