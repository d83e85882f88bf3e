// What both sides (agent and controller) say about this datastore.
import type { Capability, ManagerIdentity } from '../sdk/contract.js';
import { mysqlValidator } from './validation.js';

export const MYSQL_CAPABILITIES: readonly Capability[] = [
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

export const mysqlIdentity: ManagerIdentity = {
  name: 'mysql',
  displayName: 'MySQL / MariaDB',
  capabilities: MYSQL_CAPABILITIES,
  validator: mysqlValidator,
  defaultPort: 3306,
};
