// Object layout in backup storage (docs/backups.md):
//   <instance id>/<backup id>/data        the encrypted, compressed native backup
//   <instance id>/<backup id>/meta.json   the BackupArtifact, written after the data is complete
// A backup is complete when meta.json exists; anything else under its prefix
// is an interrupted attempt and is removed with it.
import { BackupArtifact } from '../../../proto/gen/steward/v1/backups.js';
import { invalidArgument } from '../errors.js';
import type { ObjectStorage } from './storage/storage.js';

const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

function checkId(value: string, field: string): string {
  if (!ID.test(value)) throw invalidArgument(field, 'must be 1-64 letters, digits, "-" or "_"');
  return value;
}

export const backupPrefix = (instanceId: string, backupId: string): string => `${checkId(instanceId, 'instance_id')}/${checkId(backupId, 'backup_id')}`;
export const dataKey = (instanceId: string, backupId: string): string => `${backupPrefix(instanceId, backupId)}/data`;
export const metaKey = (instanceId: string, backupId: string): string => `${backupPrefix(instanceId, backupId)}/meta.json`;

export async function writeMeta(storage: ObjectStorage, a: BackupArtifact): Promise<void> {
  const json = BackupArtifact.toJSON(a);
  await storage.putBytes(metaKey(a.instanceId, a.backupId), Buffer.from(`${JSON.stringify(json, null, 2)}\n`));
}

export async function readMeta(storage: ObjectStorage, instanceId: string, backupId: string): Promise<BackupArtifact> {
  return BackupArtifact.fromJSON(JSON.parse((await storage.getBytes(metaKey(instanceId, backupId))).toString('utf8')));
}
