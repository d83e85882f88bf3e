// Backup rows to and from the wire.
import { Backup, BackupArtifact, BackupType } from '../../proto/gen/steward/v1/backups.js';
import type { BackupsTable } from './schema.js';
import { backupStatusProto } from './status.js';

/** `bytesDone`: while it runs, the native bytes read so far (its operation's report). */
export function backupProto(b: BackupsTable, bytesDone?: number): Backup {
  return Backup.fromPartial({
    id: b.id,
    name: b.name,
    description: b.description,
    instanceId: b.instance_id,
    tenantId: b.tenant_id,
    datastore: b.datastore,
    datastoreVersion: b.datastore_version,
    type: b.type === 'INCREMENTAL' ? BackupType.INCREMENTAL : BackupType.FULL,
    parentId: b.parent_id ?? '',
    status: backupStatusProto(b.status),
    message: b.message,
    size: b.size ?? 0,
    checksum: b.checksum ?? '',
    location: b.location ?? '',
    operationId: b.operation_id ?? '',
    bytesDone: bytesDone ?? b.raw_size ?? 0,
    createdAt: b.created_at,
    updatedAt: b.updated_at,
  });
}

/** The artifact as the agent reported it, rebuilt from the row (what a restore sends back). */
export function artifactOf(b: BackupsTable): BackupArtifact {
  return BackupArtifact.fromPartial({
    backupId: b.id,
    instanceId: b.instance_id,
    datastore: b.datastore,
    datastoreVersion: b.datastore_version,
    type: b.type === 'INCREMENTAL' ? BackupType.INCREMENTAL : BackupType.FULL,
    parentId: b.parent_id ?? '',
    size: b.size ?? 0,
    rawSize: b.raw_size ?? 0,
    checksum: b.checksum ?? '',
    location: b.location ?? '',
    compression: b.compression,
    encryption: b.encryption ?? '',
    wrappedKey: b.wrapped_key ?? Buffer.alloc(0),
    keyRef: b.key_ref ?? '',
    facts: JSON.parse(b.facts) as Record<string, string>,
    createdAt: b.created_at,
    finishedAt: b.finished_at ?? '',
  });
}

/** The columns a verified completion fills. */
export function completion(a: BackupArtifact): Partial<BackupsTable> {
  return {
    datastore_version: a.datastoreVersion,
    size: a.size,
    raw_size: a.rawSize,
    checksum: a.checksum,
    location: a.location,
    compression: a.compression,
    encryption: a.encryption,
    wrapped_key: Buffer.from(a.wrappedKey),
    key_ref: a.keyRef,
    facts: JSON.stringify(a.facts ?? {}),
    finished_at: a.finishedAt || new Date().toISOString(),
  };
}
