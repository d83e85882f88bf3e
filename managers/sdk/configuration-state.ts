// What a manager remembers of its configuration group between operations and
// restarts: the group's values, the parameters an enabled optional log sets
// (guest-logs.ts: they stay over whatever group is attached until the log is
// disabled), and the names the running server has not taken yet because they
// need a restart. One small JSON file in
// the instance's config directory, written atomically; every render of the
// datastore's config reads the values from here, so no later render (restart,
// replication change, resize) drops them.
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { changedNames, restartRequired, type AppliedConfiguration, type ParameterRule } from './configuration.js';
import { writeFileAtomic } from './config-file.js';

interface Stored {
  values: Record<string, string>;
  /** Per enabled optional log, the parameters it sets. */
  logs: Record<string, Record<string, string>>;
  pendingRestart: string[];
}

export class ConfigurationState {
  private readonly path: string;

  constructor(configDir: string) {
    this.path = join(configDir, 'configuration-group.json');
  }

  /** What every render uses: the group's values (empty when none is attached) with the enabled logs' parameters over them. */
  async values(): Promise<Record<string, string>> {
    const s = await this.read();
    return Object.assign({ ...s.values }, ...Object.values(s.logs));
  }

  /** The group's values alone. */
  async groupValues(): Promise<Record<string, string>> {
    return (await this.read()).values;
  }

  /** The optional logs enabled, with the parameters each sets. */
  async logSwitches(): Promise<Record<string, Record<string, string>>> {
    return (await this.read()).logs;
  }

  /** Records the parameters an optional log sets while enabled (`undefined`: disabled, its parameters back to the group or default). */
  async setLog(name: string, values: Record<string, string> | undefined): Promise<void> {
    const s = await this.read();
    const logs = { ...s.logs };
    if (values) logs[name] = { ...values };
    else delete logs[name];
    await this.write({ ...s, logs });
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
    const stored: Stored = { values: { ...values }, logs: before.logs, pendingRestart: [...pending].sort() };
    await this.write(stored);
    return { values: stored.values, pendingRestart: stored.pendingRestart };
  }

  /** The server (re)started with the rendered config: nothing is pending any more. */
  async started(): Promise<void> {
    const s = await this.read();
    if (s.pendingRestart.length === 0) return;
    await this.write({ ...s, pendingRestart: [] });
  }

  private async write(s: Stored): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    await writeFileAtomic(this.path, `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
  }

  private async read(): Promise<Stored> {
    try {
      const s = JSON.parse(await readFile(this.path, 'utf8')) as Partial<Stored>;
      return { values: s.values ?? {}, logs: s.logs ?? {}, pendingRestart: s.pendingRestart ?? [] };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { values: {}, logs: {}, pendingRestart: [] };
      throw err;
    }
  }
}
