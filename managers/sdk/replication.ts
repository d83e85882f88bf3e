// The orchestration side of replication: what the controller must know about
// a datastore's positions to choose a failover candidate and to say how far
// behind a replica is. Positions are the datastore's own strings (a MariaDB
// GTID set, a PostgreSQL LSN, a Redis offset); only the datastore's strategy
// reads them.
import { ReplicationRole } from '../../proto/gen/steward/v1/replication.js';
import type { RoleName } from './replication-state.js';

export {
  ReplicationRole,
  ReplicationStatus,
  type AttachReplicaRequest,
  type PromoteRequest,
  type RejoinRequest,
  type ReplicaEndpoint,
  type ReplicationCredentials,
  type ReplicationSourceRequest,
} from '../../proto/gen/steward/v1/replication.js';

/** The wire role of a remembered one. */
export const roleOf = (role: RoleName): ReplicationRole =>
  ({ standalone: ReplicationRole.STANDALONE, primary: ReplicationRole.PRIMARY, replica: ReplicationRole.REPLICA })[role];

export interface ReplicationStrategy {
  /**
   * Orders two positions: negative when `a` is behind `b`, 0 when equal,
   * positive when ahead; undefined when neither contains the other (a MariaDB
   * GTID set with transactions the other lacks): such a replica can never be
   * promoted over the other.
   */
  compare(a: string, b: string): number | undefined;
  /** How far `behind` is from `ahead` in bytes (or the datastore's unit), when positions say. */
  distance(ahead: string, behind: string): number | undefined;
  /** Synchronous replication (a write is acknowledged once a replica has it). */
  readonly synchronous: boolean;
  /** A replica may itself be the source of replicas. */
  readonly cascading: boolean;
  /** A new replica starts from a backup of its source (false: the datastore's own full sync is that copy). */
  readonly seedFromBackup: boolean;
  /** What `distance` counts ("transactions", "bytes"). */
  readonly lagUnit: string;
  /** The lag bound a replica set gets unless its creator names one (in `lagUnit`). */
  readonly defaultMaxLag: number;
}

/** An empty position: nothing written yet. */
export const NO_POSITION = '';
