// The orchestration side of every datastore the controller knows: identity,
// capabilities, validation rules and cluster strategies. Loaded once at start-up.
import type { Capability, OrchestrationModule } from '../managers/sdk/contract.js';
import { failedPrecondition, invalidArgument } from '../managers/sdk/errors.js';
import { BUILT_IN_MANAGERS, loadOrchestration } from '../managers/sdk/registry.js';

export class DatastoreCatalog {
  private constructor(
    private readonly modules: Map<string, OrchestrationModule>,
    private readonly specifiers: Map<string, string>,
  ) {}

  /** Loads each manager by its specifier (built-in name, package name or path); requests then use its `name`. */
  static async load(specifiers: readonly string[] = BUILT_IN_MANAGERS): Promise<DatastoreCatalog> {
    const modules = new Map<string, OrchestrationModule>();
    const bySpecifier = new Map<string, string>();
    for (const spec of specifiers) {
      const m = await loadOrchestration(spec);
      modules.set(m.name, m);
      bySpecifier.set(m.name, spec);
    }
    return new DatastoreCatalog(modules, bySpecifier);
  }

  /** What an agent loads to get this datastore's manager. */
  specifierOf(name: string): string {
    return this.specifiers.get(name) ?? name;
  }

  names(): string[] {
    return [...this.modules.keys()];
  }

  /** The module for a datastore named in a request (INVALID_ARGUMENT naming the field if unknown). */
  get(name: string, field = 'datastore'): OrchestrationModule {
    const m = this.modules.get(name);
    if (!m) throw invalidArgument(field, `unknown datastore "${name.slice(0, 64)}" (known: ${this.names().join(', ')})`);
    return m;
  }

  /** Refuses, before anything is sent, an operation the datastore cannot do. */
  require(datastore: string, capability: Capability): OrchestrationModule {
    const m = this.get(datastore);
    if (!m.capabilities.includes(capability)) {
      throw failedPrecondition(`datastore ${m.displayName} (${m.name}) does not support ${capability}`);
    }
    return m;
  }
}
