// The replica set task: which workflow runs on a set (one at a time). Stored
// as the ReplicaSetTask name, sent as the enum. A failed workflow leaves its
// *_ERROR task with the reason; the next workflow may start from it (a failed
// switchover left the old primary in place, a failed failover is retried).
import { ReplicaSetTask } from '../../proto/gen/steward/v1/replication.js';
import { stateMachine } from '../../managers/sdk/state-machine.js';
import { taskColumn } from '../states/task-column.js';

export type ReplicaSetTaskName = Exclude<keyof typeof ReplicaSetTask, 'UNSPECIFIED' | 'UNRECOGNIZED'>;
export type ReplicaSetWorkflow = 'add_replicas' | 'switchover' | 'failover' | 'rejoin';

const BUSY: ReplicaSetTaskName[] = ['ADDING_REPLICAS', 'SWITCHING_OVER', 'FAILING_OVER', 'REJOINING'];
const SETTLED: ReplicaSetTaskName[] = ['NONE', 'ADDING_REPLICAS_ERROR', 'SWITCHING_OVER_ERROR', 'FAILING_OVER_ERROR', 'REJOINING_ERROR'];

export const replicaSetTasks = stateMachine<ReplicaSetTaskName>('replica set task', {
  NONE: BUSY,
  ADDING_REPLICAS: ['NONE', 'ADDING_REPLICAS_ERROR'],
  SWITCHING_OVER: ['NONE', 'SWITCHING_OVER_ERROR'],
  FAILING_OVER: ['NONE', 'FAILING_OVER_ERROR'],
  REJOINING: ['NONE', 'REJOINING_ERROR'],
  ADDING_REPLICAS_ERROR: BUSY,
  SWITCHING_OVER_ERROR: BUSY,
  FAILING_OVER_ERROR: BUSY,
  REJOINING_ERROR: BUSY,
});

export const replicaSetTask = taskColumn('replica_sets', 'replica set', replicaSetTasks);

export const WORKFLOW_TASKS: Record<ReplicaSetWorkflow, { running: ReplicaSetTaskName; failed: ReplicaSetTaskName }> = {
  add_replicas: { running: 'ADDING_REPLICAS', failed: 'ADDING_REPLICAS_ERROR' },
  switchover: { running: 'SWITCHING_OVER', failed: 'SWITCHING_OVER_ERROR' },
  failover: { running: 'FAILING_OVER', failed: 'FAILING_OVER_ERROR' },
  rejoin: { running: 'REJOINING', failed: 'REJOINING_ERROR' },
};

/** No workflow runs: a new one may start. */
export const isSettled = (task: string): boolean => SETTLED.includes(task as ReplicaSetTaskName);

export const replicaSetTaskProto = (stored: string): ReplicaSetTask => ReplicaSetTask[stored as ReplicaSetTaskName] ?? ReplicaSetTask.UNSPECIFIED;
