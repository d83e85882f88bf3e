// What every public API handler needs, and the caller's tenant.
import type { Metadata } from '@grpc/grpc-js';
import type { Logger } from '../../managers/sdk/logger.js';
import type { AgentRegistry } from '../agent-registry.js';
import type { DatastoreCatalog } from '../catalog.js';
import type { InstanceService } from '../instances.js';
import type { OperationService } from '../operations.js';
import type { Store } from '../store/open.js';
import type { Caller } from '../tokens.js';
import type { Security } from '../security.js';
import type { CallerScope } from '../tenancy.js';

export interface ApiContext {
  store: Store;
  instances: InstanceService;
  operations: OperationService;
  agents: AgentRegistry;
  catalog: DatastoreCatalog;
  missedHeartbeats: number;
  log: Logger;
  /** The authenticated caller (UNAUTHENTICATED without a valid token). */
  caller(metadata: Metadata): Promise<Caller>;
  /** What the caller may see: every tenant (admin) or their own. */
  scopeOf(metadata: Metadata): Promise<CallerScope>;
  security: Security;
}
