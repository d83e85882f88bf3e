// What both sides (agent and controller) say about this datastore.
import type { Capability, ManagerIdentity } from '../sdk/contract.js';
import { cassandraValidator } from './validation.js';

export const CASSANDRA_CAPABILITIES: readonly Capability[] = ['users', 'databases', 'root', 'cluster', 'backup', 'configuration', 'logs', 'resize'];

export const cassandraIdentity: ManagerIdentity = {
  name: 'cassandra',
  displayName: 'Apache Cassandra',
  capabilities: CASSANDRA_CAPABILITIES,
  validator: cassandraValidator,
  defaultPort: 9042,
};
