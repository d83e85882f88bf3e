// Finds a manager by name. Built-in managers live in managers/<name>/; anything
// else is an out-of-tree package (or an absolute path) that exports the same two
// entry points: `<pkg>/agent` and `<pkg>/orchestration`.
import { isAbsolute, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CAPABILITIES, type AgentManagerModule, type ManagerIdentity, type OrchestrationModule } from './contract.js';
import { failedPrecondition } from './errors.js';

export const BUILT_IN_MANAGERS = ['mysql', 'postgresql', 'redis', 'cassandra'] as const;

const here = new URL('.', import.meta.url);

function specifier(name: string, side: 'agent' | 'orchestration'): string {
  if ((BUILT_IN_MANAGERS as readonly string[]).includes(name)) return new URL(`../${name}/${side}.ts`, here).href;
  if (isAbsolute(name)) return pathToFileURL(join(name, `${side}.ts`)).href;
  return `${name}/${side}`;
}

async function load<T extends ManagerIdentity>(name: string, side: 'agent' | 'orchestration'): Promise<T> {
  let mod: { default?: T };
  try {
    mod = (await import(specifier(name, side))) as { default?: T };
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
