// Agent entry point of the mysql manager (loaded by the agent's registry).
import type { AgentManagerModule } from '../sdk/contract.js';
import { mysqlIdentity } from './identity.js';
import { MysqlManager } from './manager.js';

const mysqlAgent: AgentManagerModule = {
  ...mysqlIdentity,
  create: (ctx) => new MysqlManager(ctx),
};

export default mysqlAgent;
export { MysqlManager };
