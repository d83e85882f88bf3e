// Finds a manager by name. Built-in managers live in managers/<name>/; anything
// else is an out-of-tree package (or an absolute path) that exports the same two
// entry points: `<pkg>/agent` and `<pkg>/orchestration`.
import { isAbsolute, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CAPABILITIES, type AgentManagerModule, type ManagerIdentity, type OrchestrationModule } from './contract.js';
import { failedPrecondition } from './errors.js';

type Side = 'agent' | 'orchestration';

// Literal imports, so that a build bundles each built-in manager into a chunk
// of its own, loaded only by the agent or controller that needs it.
const BUILT_IN: Record<string, Record<Side, () => Promise<unknown>>> = {
  mysql: { agent: () => import('../mysql/agent.js'), orchestration: () => import('../mysql/orchestration.js') },
  postgresql: { agent: () => import('../postgresql/agent.js'), orchestration: () => import('../postgresql/orchestration.js') },
  redis: { agent: () => import('../redis/agent.js'), orchestration: () => import('../redis/orchestration.js') },
  cassandra: { agent: () => import('../cassandra/agent.js'), orchestration: () => import('../cassandra/orchestration.js') },
};

export const BUILT_IN_MANAGERS = ['mysql', 'postgresql', 'redis', 'cassandra'] as const;

function importOf(name: string, side: Side): Promise<unknown> {
  const builtIn = BUILT_IN[name]?.[side];
  if (builtIn) return builtIn();
  // Out of tree: a package name, or a directory whose <side>.ts (source) or <side>.js (built) is the entry.
  return import(isAbsolute(name) ? pathToFileURL(join(name, `${side}.ts`)).href : `${name}/${side}`);
}

async function load<T extends ManagerIdentity>(name: string, side: Side): Promise<T> {
  let mod: { default?: T };
  try {
    mod = (await importOf(name, side)) as { default?: T };
  } catch (err) {
    throw failedPrecondition(`datastore manager "${name}" could not be loaded (${side} side): ${(err as Error).message}`);
  }
  const m = mod.default;
  if (!m || typeof m.name !== 'string' || !Array.isArray(m.capabilities) || !m.validator) {
    throw failedPrecondition(`datastore manager "${name}" does not export a ${side} module as its default export`);
  }
  const unknown = m.capabilities.filter((c) => !(CAPABILITIES as readonly string[]).includes(c));
  if (unknown.length) throw failedPrecondition(`datastore manager "${name}" declares unknown capabilities: ${unknown.join(', ')}`);
  return m;
}

export async function loadAgentManager(name: string): Promise<AgentManagerModule> {
  const m = await load<AgentManagerModule>(name, 'agent');
  if (typeof m.create !== 'function') throw failedPrecondition(`datastore manager "${name}" has no create()`);
  return m;
}

export function loadOrchestration(name: string): Promise<OrchestrationModule> {
  return load<OrchestrationModule>(name, 'orchestration');
}
