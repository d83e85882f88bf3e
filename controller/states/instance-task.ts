// The instance task: what the controller is doing to an instance (DESIGN.md
// section 9). Stored as the InstanceTask name, sent as the enum. A *_ERROR task
// keeps the failure for the user until a retry or a deletion moves it on.
// Operations set BUILDING and REBOOTING through the operations table
// (`task.running` / `task.failed`); deletion is its own workflow.
import { InstanceTask } from '../../proto/gen/steward/v1/api.js';
import type { InstanceTaskName } from '../../managers/sdk/operations/table.js';
import { stateMachine } from '../../managers/sdk/state-machine.js';
import { taskColumn } from './task-column.js';

export type { InstanceTaskName };

export const instanceTasks = stateMachine<InstanceTaskName>('instance task', {
  NONE: ['REBOOTING', 'RESIZING', 'DELETING', 'PROMOTING', 'EJECTING'],
  // A replica becoming its set's primary (switchover, failover); a failed promotion leaves it a replica.
  PROMOTING: ['NONE', 'PROMOTING_ERROR', 'DELETING'],
  PROMOTING_ERROR: ['NONE', 'PROMOTING', 'DELETING'],
  // A former primary coming back as a replica (rejoin, or rebuilt from a backup).
  EJECTING: ['NONE', 'EJECTING_ERROR', 'DELETING'],
  EJECTING_ERROR: ['EJECTING', 'NONE', 'DELETING'],
  BUILDING: ['NONE', 'BUILDING_ERROR', 'DELETING'],
  REBOOTING: ['NONE', 'REBOOTING_ERROR', 'DELETING'],
  RESIZING: ['NONE', 'RESIZING_ERROR', 'DELETING'],
  // Done when the row is marked deleted; the task stays DELETING.
  DELETING: ['DELETING_ERROR'],
  BUILDING_ERROR: ['DELETING'],
  // A failed restart may be retried.
  REBOOTING_ERROR: ['REBOOTING', 'DELETING'],
  // Only a resize leaves it (to any size, the current one included): after an agent killed mid-resize
  // the size the agent recorded may not be the controller's, and a resize is what makes them agree.
  RESIZING_ERROR: ['RESIZING', 'DELETING'],
  DELETING_ERROR: ['DELETING'],
});

export const instanceTask = taskColumn('instances', 'instance', instanceTasks);

/** Datastore operations run only on an instance the controller is not busy with. */
export const isIdle = (task: string): boolean => task === 'NONE';
export const isFailedTask = (task: string): boolean => task.endsWith('_ERROR');

/** The wire form of a stored task. */
export const instanceTaskProto = (stored: string): InstanceTask => InstanceTask[stored as InstanceTaskName] ?? InstanceTask.UNSPECIFIED;
