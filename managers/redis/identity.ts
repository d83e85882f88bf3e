// What both sides (agent and controller) say about this datastore.
import type { Capability, ManagerIdentity } from '../sdk/contract.js';
import { redisValidator } from './validation.js';

/**
 * Redis has no schemas to manage: numbered databases are not access boundaries, key patterns are.
 * Backups are full RDB snapshots only: no "backup_incremental". Replication is
 * Redis's own asynchronous replication (replication.ts). Configuration groups set
 * the redis.conf parameters of parameters.ts. A resize renders maxmemory for the
 * new size and restarts the server once.
 */
export const REDIS_CAPABILITIES: readonly Capability[] = ['users', 'root', 'backup', 'replication', 'configuration', 'logs', 'resize'];

export const redisIdentity: ManagerIdentity = {
  name: 'redis',
  displayName: 'Redis',
  capabilities: REDIS_CAPABILITIES,
  validator: redisValidator,
  defaultPort: 6379,
};
