// What a manager remembers of its configuration group between operations and
// restarts: the values in force in its config file, and the names the running
// server has not taken yet because they need a restart. One small JSON file in
// the instance's config directory, written atomically; every render of the
// datastore's config reads the values from here, so no later render (restart,
// replication change, resize) drops them.
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { changedNames, restartRequired, type AppliedConfiguration, type ParameterRule } from './configuration.js';
import { writeFileAtomic } from './config-file.js';

interface Stored {
  values: Record<string, string>;
  pendingRestart: string[];
}

export class ConfigurationState {
  private readonly path: string;

  constructor(configDir: string) {
    this.path = join(configDir, 'configuration-group.json');
  }

  /** The group's values in force (empty when no group is attached). */
  async values(): Promise<Record<string, string>> {
    return (await this.read()).values;
  }

  async pendingRestart(): Promise<string[]> {
    return (await this.read()).pendingRestart;
  }

  /**
   * Records `values` as the group's (call before rendering the config) and
   * returns what applying them means: every restart-required name that changed
   * joins those still pending. Pending names stay until `started()`.
   */
  async record(rules: readonly ParameterRule[], values: Record<string, string>): Promise<AppliedConfiguration> {
    const before = await this.read();
    const pending = new Set([...before.pendingRestart, ...restartRequired(rules, changedNames(before.values, values))]);
    const stored: Stored = { values: { ...values }, pendingRestart: [...pending].sort() };
    await mkdir(dirname(this.path), { recursive: true });
    await writeFileAtomic(this.path, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
    return { values: stored.values, pendingRestart: stored.pendingRestart };
  }

  /** The server (re)started with the rendered config: nothing is pending any more. */
  async started(): Promise<void> {
    const s = await this.read();
    if (s.pendingRestart.length === 0) return;
    await writeFileAtomic(this.path, `${JSON.stringify({ ...s, pendingRestart: [] }, null, 2)}\n`, { mode: 0o600 });
  }

  private async read(): Promise<Stored> {
    try {
      const s = JSON.parse(await readFile(this.path, 'utf8')) as Partial<Stored>;
      return { values: s.values ?? {}, pendingRestart: s.pendingRestart ?? [] };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { values: {}, pendingRestart: [] };
      throw err;
    }
  }
}
