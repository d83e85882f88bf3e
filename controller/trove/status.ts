// Trove's instance status from Steward's task and the agent's probe, in the
// order Trove's SimpleInstance.status decides it: a failed task is ERROR; a
// running task names the status (BUILD, REBOOT, RESIZE, SHUTDOWN while
// deleting, PROMOTE, EJECT); a running backup is BACKUP; otherwise the
// datastore's status (ServiceStatuses.api_status). `operating_status` is the
// datastore's own status as newer Trove reports it beside `status`.
import { InstanceTask, type Instance } from '../../proto/gen/steward/v1/api.js';
import { DatastoreStatus } from '../../proto/gen/steward/v1/common.js';

const TASK_STATUS: Partial<Record<InstanceTask, string>> = {
  [InstanceTask.BUILDING]: 'BUILD',
  [InstanceTask.REBOOTING]: 'REBOOT',
  [InstanceTask.RESIZING]: 'RESIZE',
  [InstanceTask.DELETING]: 'SHUTDOWN',
  [InstanceTask.PROMOTING]: 'PROMOTE',
  [InstanceTask.EJECTING]: 'EJECT',
};

const FAILED_TASKS = new Set<InstanceTask>([
  InstanceTask.BUILDING_ERROR,
  InstanceTask.REBOOTING_ERROR,
  InstanceTask.RESIZING_ERROR,
  InstanceTask.DELETING_ERROR,
  InstanceTask.PROMOTING_ERROR,
  InstanceTask.EJECTING_ERROR,
]);

/** ServiceStatuses.api_status for each probed status. */
const DATASTORE_STATUS: Record<DatastoreStatus, string> = {
  [DatastoreStatus.UNSPECIFIED]: 'BUILD',
  [DatastoreStatus.NEW]: 'BUILD',
  [DatastoreStatus.BUILDING]: 'BUILD',
  [DatastoreStatus.RUNNING]: 'ACTIVE',
  [DatastoreStatus.HEALTHY]: 'ACTIVE',
  [DatastoreStatus.SHUTDOWN]: 'SHUTDOWN',
  [DatastoreStatus.CRASHED]: 'SHUTDOWN',
  [DatastoreStatus.BLOCKED]: 'BLOCKED',
  [DatastoreStatus.FAILED]: 'FAILED',
  [DatastoreStatus.RESTART_REQUIRED]: 'RESTART_REQUIRED',
  [DatastoreStatus.PROMOTING]: 'PROMOTE',
  [DatastoreStatus.EJECTING]: 'EJECT',
  [DatastoreStatus.UNKNOWN]: 'ERROR',
  [DatastoreStatus.UNRECOGNIZED]: 'ERROR',
};

/** Newer Trove's operating_status: the datastore's own state (HEALTHY, RUNNING, SHUTDOWN, ...). */
export function operatingStatus(i: Pick<Instance, 'status' | 'agentLost'>): string {
  if (i.agentLost) return 'UNKNOWN';
  const name = DatastoreStatus[i.status] ?? 'UNKNOWN';
  return name === 'UNSPECIFIED' || name === 'UNRECOGNIZED' ? 'NEW' : name;
}

export interface StatusView {
  status: string;
  /** Why: a failed task's message, or an agent that stopped answering. */
  fault?: string;
}

export function troveStatus(i: Pick<Instance, 'task' | 'taskMessage' | 'status' | 'agentLost'>, backupRunning: boolean): StatusView {
  if (FAILED_TASKS.has(i.task)) return { status: 'ERROR', fault: i.taskMessage || 'the last task failed' };
  const byTask = TASK_STATUS[i.task];
  if (byTask) return { status: byTask };
  if (i.agentLost) return { status: 'ERROR', fault: 'the instance agent stopped sending heartbeats' };
  if (backupRunning) return { status: 'BACKUP' };
  return { status: DATASTORE_STATUS[i.status] ?? 'ERROR' };
}
