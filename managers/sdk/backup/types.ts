// The backup part of the plugin contract. A manager that declares capability
// "backup" exposes `backup: BackupOps` on its AgentManager, and restores
// inside prepare (`PrepareRequest.restore`, see AgentManager.prepare);
// "backup_incremental" says it can also make incremental backups. Wire types
// are the generated ones, re-exported so that managers depend on the SDK only.
import type { OperationScope } from '../contract.js';
import type { BackupArtifact, CreateBackupCommand } from '../../../proto/gen/steward/v1/backups.js';

export { BackupType } from '../../../proto/gen/steward/v1/backups.js';
export type {
  BackupArtifact,
  BackupKeyGrant,
  BackupStorage,
  CreateBackupCommand,
  RestoreBackupCommand,
  RestoreItem,
} from '../../../proto/gen/steward/v1/backups.js';

export interface BackupOps {
  /** Streams a backup into storage and returns what was stored (also written as its meta.json). */
  create(req: CreateBackupCommand, op: OperationScope): Promise<BackupArtifact>;
}
