// The cluster task: which workflow runs on a cluster (create, grow, shrink) or
// its deletion. Stored as the ClusterTask name, sent as the enum. One workflow
// at a time: grow, shrink and delete start only from NONE; a failed workflow
// leaves its *_ERROR task with the reason, and only deletion moves on from it.
import { ClusterTask } from '../../proto/gen/steward/v1/clusters.js';
import { stateMachine } from '../../managers/sdk/state-machine.js';
import { taskColumn } from './task-column.js';

export type ClusterTaskName = Exclude<keyof typeof ClusterTask, 'UNSPECIFIED' | 'UNRECOGNIZED'>;

export const clusterTasks = stateMachine<ClusterTaskName>('cluster task', {
  NONE: ['GROWING', 'SHRINKING', 'DELETING'],
  BUILDING: ['NONE', 'BUILDING_ERROR'],
  GROWING: ['NONE', 'GROWING_ERROR'],
  SHRINKING: ['NONE', 'SHRINKING_ERROR'],
  DELETING: ['DELETING_ERROR'],
  BUILDING_ERROR: ['DELETING'],
  GROWING_ERROR: ['DELETING'],
  SHRINKING_ERROR: ['DELETING'],
  DELETING_ERROR: ['DELETING'],
});

export const clusterTask = taskColumn('clusters', 'cluster', clusterTasks);

/** The task a workflow of this kind runs under, and the one it leaves when it fails. */
export const WORKFLOW_TASKS = {
  create: { running: 'BUILDING', failed: 'BUILDING_ERROR' },
  grow: { running: 'GROWING', failed: 'GROWING_ERROR' },
  shrink: { running: 'SHRINKING', failed: 'SHRINKING_ERROR' },
} as const satisfies Record<string, { running: ClusterTaskName; failed: ClusterTaskName }>;

export const isClusterBusy = (task: string): boolean => task === 'BUILDING' || task === 'GROWING' || task === 'SHRINKING';

export const clusterTaskProto = (stored: string): ClusterTask => ClusterTask[stored as ClusterTaskName] ?? ClusterTask.UNSPECIFIED;
