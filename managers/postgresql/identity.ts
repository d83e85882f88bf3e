// What both sides (agent and controller) say about this datastore.
import type { Capability, ManagerIdentity } from '../sdk/contract.js';
import { pgValidator } from './validation.js';

export const POSTGRESQL_CAPABILITIES: readonly Capability[] = [
  'users',
  'databases',
  'root',
  'backup',
  'backup_incremental',
  'replication',
  'configuration',
  'logs',
  'resize',
];

export const postgresqlIdentity: ManagerIdentity = {
  name: 'postgresql',
  displayName: 'PostgreSQL',
  capabilities: POSTGRESQL_CAPABILITIES,
  validator: pgValidator,
  defaultPort: 5432,
};
