// Agent entry point of the postgresql manager (loaded by the agent's registry).
import type { AgentManagerModule } from '../sdk/contract.js';
import { postgresqlIdentity } from './identity.js';
import { PostgresqlManager } from './manager.js';

const postgresqlAgent: AgentManagerModule = {
  ...postgresqlIdentity,
  create: (ctx) => new PostgresqlManager(ctx),
};

export default postgresqlAgent;
export { PostgresqlManager };
