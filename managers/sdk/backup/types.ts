// The backup part of the plugin contract. A manager that declares capability
// "backup" exposes `backup: BackupOps` on its AgentManager; "backup_incremental"
// additionally means `incremental` is true. Wire types are the generated ones,
// re-exported so that managers depend on the SDK only.
import type { OperationScope } from '../contract.js';
import type { BackupArtifact, CreateBackupCommand, RestoreBackupCommand } from '../../../proto/gen/steward/v1/backups.js';

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
  /** Whether this strategy can make incremental backups; when false, `create` refuses them (FAILED_PRECONDITION). */
  readonly incremental: boolean;
  /** Streams a backup into storage and returns what was stored (also written as its meta.json). */
  create(req: CreateBackupCommand, op: OperationScope): Promise<BackupArtifact>;
  /**
   * Fills the instance's empty data directory from a chain (full first). The
   * whole chain is fetched and verified before anything is written there.
   * Called by prepare in place of initialising a new data directory.
   */
  restore(req: RestoreBackupCommand, op: OperationScope): Promise<void>;
}
