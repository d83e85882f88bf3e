// A backup's status, stored (never inferred) and moved only by these
// transitions, each of which sets what goes with it:
//   NEW        recorded with its operation, before the agent has started
//   BUILDING   the agent started the native tool (its first RUNNING report)
//   SAVING     the agent reported its first bytes stored
//   COMPLETED  stored, checksummed and its artifact believed: restorable
//   FAILED     the operation failed, or its artifact was not believable
//   DELETE_FAILED  its objects could not be removed; deleting again retries
// Statuses only move forward: a late progress report never moves a SAVING
// backup back to BUILDING.
import { BackupStatus } from '../../proto/gen/steward/v1/backups.js';
import { stateMachine } from '../../managers/sdk/state-machine.js';
import { nowIso } from '../clock.js';
import type { BackupsTable } from './schema.js';

export type BackupStatusName = Exclude<keyof typeof BackupStatus, 'UNSPECIFIED' | 'UNRECOGNIZED'>;

export const backupStatuses = stateMachine<BackupStatusName>('backup', {
  NEW: ['BUILDING', 'SAVING', 'COMPLETED', 'FAILED'],
  BUILDING: ['SAVING', 'COMPLETED', 'FAILED'],
  SAVING: ['COMPLETED', 'FAILED'],
  COMPLETED: ['DELETE_FAILED'],
  FAILED: ['DELETE_FAILED'],
  DELETE_FAILED: ['DELETE_FAILED'],
});

/** A backup in one of these may still change: it can be neither deleted nor built upon. */
export const RUNNING_STATUSES: readonly BackupStatusName[] = ['NEW', 'BUILDING', 'SAVING'];

export const isBackupRunning = (status: string): boolean => RUNNING_STATUSES.includes(status as BackupStatusName);

export type BackupPatch = Partial<BackupsTable> & { status: BackupStatusName };

/** The patch that moves `b` to `to` (with its message and time); throws on a move the machine does not allow. */
function moved(b: Pick<BackupsTable, 'status'>, to: BackupStatusName, extra: Partial<BackupsTable> = {}): BackupPatch {
  return { ...extra, status: backupStatuses.move(b.status as BackupStatusName, to), updated_at: nowIso() };
}

export const backupTransitions = {
  /** The agent began: BUILDING, unless it is already further along. */
  started: (b: Pick<BackupsTable, 'status'>): BackupPatch | undefined => (b.status === 'NEW' ? moved(b, 'BUILDING') : undefined),
  /** Bytes reached storage: SAVING, once. */
  saving: (b: Pick<BackupsTable, 'status'>): BackupPatch | undefined => (b.status === 'NEW' || b.status === 'BUILDING' ? moved(b, 'SAVING') : undefined),
  completed: (b: Pick<BackupsTable, 'status'>, artifact: Partial<BackupsTable>): BackupPatch => moved(b, 'COMPLETED', { ...artifact, message: '' }),
  failed: (b: Pick<BackupsTable, 'status'>, reason: string): BackupPatch => moved(b, 'FAILED', { message: reason }),
  deleteFailed: (b: Pick<BackupsTable, 'status'>, reason: string): BackupPatch => moved(b, 'DELETE_FAILED', { message: reason }),
};

export const backupStatusProto = (stored: string): BackupStatus => BackupStatus[stored as BackupStatusName] ?? BackupStatus.UNSPECIFIED;
