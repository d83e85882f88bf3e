// Agent entry point of the cassandra manager (loaded by the agent's registry).
// Where the server's jars and Java are, and its internode and JMX ports, come
// from the agent's environment (STEWARD_CASSANDRA_*, see install.ts).
import type { AgentManagerModule } from '../sdk/contract.js';
import { cassandraIdentity } from './identity.js';
import { optionsFromEnv } from './install.js';
import { CassandraManager } from './manager.js';

const cassandraAgent: AgentManagerModule = {
  ...cassandraIdentity,
  create: (ctx) => new CassandraManager(ctx, optionsFromEnv()),
};

export default cassandraAgent;
export { CassandraManager };
export type { ClusterOps } from './cluster.js';
export type { CassandraOptions } from './install.js';
