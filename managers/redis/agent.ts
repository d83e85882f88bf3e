// Agent entry point of the redis manager (loaded by the agent's registry).
import type { AgentManagerModule } from '../sdk/contract.js';
import { redisIdentity } from './identity.js';
import { RedisManager } from './manager.js';

const redisAgent: AgentManagerModule = {
  ...redisIdentity,
  create: (ctx) => new RedisManager(ctx),
};

export default redisAgent;
export { RedisManager };
