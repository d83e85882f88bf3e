// configuration-group.conf: the configuration group's values, included by
// postgresql.conf after Steward's own defaults (so the group wins) and before
// the role's settings (which no group can name). Rendered from the persisted
// group state at prepare and at every apply, so a restart, a replication
// change or a retried prepare reads the same values. A parameter the group
// does not set is absent here, and postgresql.conf's value (tuning()) or the
// server's built-in default is in force: that is what catalog.defaults() says.
//
// A running server takes the file by reload (pg_reload_conf), never by ALTER
// SYSTEM: the rendered files are the source of truth, and ALTER SYSTEM values
// of the catalog's parameters (postgresql.auto.conf, which would win over
// them) are reset.
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../sdk/config-file.js';
import type { ParameterRule } from '../sdk/configuration.js';
import { internal } from '../sdk/errors.js';
import { includeLine, renderConf, type ConfValue } from './config.js';
import { exec, select, type Sessions } from './connection.js';
import { reloadAndWait } from './hba.js';
import { POSTGRESQL_PARAMETERS, UNIT_FACTORS, parameterRule, renderedValue } from './parameters.js';

/** The group's checked values as configuration-group.conf; a name outside the catalog is a bug, never rendered. */
export function renderGroupConf(values: Record<string, string>): string {
  const entries: Record<string, ConfValue> = {};
  for (const name of Object.keys(values).sort()) {
    const rule = parameterRule(name);
    if (!rule) throw internal(`configuration group parameter ${JSON.stringify(name)} is not in the PostgreSQL catalog`);
    entries[name] = renderedValue(rule, values[name]);
  }
  return renderConf(
    entries,
    "Rendered by the Steward agent from this instance's configuration group; local edits are overwritten.\nA parameter not set here has Steward's default (postgresql.conf) or the server's.",
  );
}

/** Writes the group file, and makes sure postgresql.conf includes it (one rendered before configuration groups existed does not). */
export async function writeGroupConf(files: { configFile: string; groupConf: string }, values: Record<string, string>): Promise<void> {
  await writeFileAtomic(files.groupConf, renderGroupConf(values), { mode: 0o644 });
  const conf = await readFile(files.configFile, 'utf8');
  const line = includeLine(files.groupConf);
  if (conf.split('\n').includes(line)) return;
  await writeFileAtomic(files.configFile, `${conf.trimEnd()}\n# The configuration group's values (added by the Steward agent).\n${line}\n`, {
    mode: 0o644,
  });
}

interface LiveSetting {
  name: string;
  setting: string;
  unit: string | null;
  pending_restart: boolean;
  source: string;
}

/** Whether the server's `setting` (in its own `unit`) is `value` (in the rule's unit). */
export function sameValue(rule: ParameterRule, value: string, live: Pick<LiveSetting, 'setting' | 'unit'>): boolean {
  switch (rule.type) {
    case 'boolean':
    case 'enum':
      return live.setting === value;
    case 'integer':
    case 'float': {
      const want = Number(value) * (rule.unit ? UNIT_FACTORS[rule.unit] : 1);
      const have = Number(live.setting) * (live.unit ? (UNIT_FACTORS[live.unit] ?? Number.NaN) : 1);
      // pg_settings shows reals with six significant digits.
      return rule.type === 'integer' ? want === have : Math.abs(want - have) <= Math.abs(want) * 1e-5 + 1e-9;
    }
  }
}

/** Session values set per database or per role are not the server's: nothing to compare there. */
const OVERRIDDEN_PER_SESSION = new Set(['database', 'user', 'database user', 'client', 'session']);

/** What differs between the server (in fresh sessions) and `expected`: dynamic values not taken, restart-required ones neither taken nor pending. */
function mismatches(rows: LiveSetting[], expected: Record<string, string>): string[] {
  const out: string[] = [];
  for (const row of rows) {
    const rule = parameterRule(row.name);
    const want = expected[row.name];
    if (!rule || want === undefined || OVERRIDDEN_PER_SESSION.has(row.source) || sameValue(rule, want, row)) continue;
    if (!rule.dynamic && row.pending_restart) continue;
    out.push(`${row.name} is ${row.setting}${row.unit ?? ''}, rendered ${want}${rule.unit ?? ''}`);
  }
  return out;
}

/**
 * Makes the running server read the rendered group: ALTER SYSTEM values of the
 * catalog's parameters reset, the file checked as the server parses it, a
 * reload, then waits until fresh sessions show every dynamic parameter at
 * `expected` (the group's value or the default) and every restart-required one
 * at it or pending a restart.
 */
export async function applyGroupLive(
  sessions: Sessions,
  groupConf: string,
  expected: Record<string, string>,
  signal: AbortSignal,
  timeoutMs = 10_000,
): Promise<void> {
  const names = POSTGRESQL_PARAMETERS.map((r) => r.name);
  const restartOnly = POSTGRESQL_PARAMETERS.filter((r) => !r.dynamic).map((r) => r.name);
  await sessions(async (s) => {
    const overridden = await select<{ name: string }>(
      s,
      "SELECT DISTINCT name FROM pg_file_settings WHERE name = ANY($1) AND sourcefile LIKE '%/postgresql.auto.conf'",
      [names],
    );
    // ALTER SYSTEM takes no parameters: the name is one of the catalog's own (plain identifiers), never the query's text.
    for (const { name } of overridden) if (parameterRule(name)) await exec(s, `ALTER SYSTEM RESET ${name}`);
    // A restart-required value that differs from the running one reads as "could not be applied": that is pending, not wrong.
    const bad = await select<{ line: number; error: string }>(
      s,
      'SELECT sourceline AS line, error FROM pg_file_settings WHERE error IS NOT NULL AND sourcefile = $1 AND (name IS NULL OR NOT name = ANY($2))',
      [groupConf, restartOnly],
    );
    if (bad.length) throw internal(`the server refuses the rendered configuration group: ${bad.map((b) => `${groupConf}:${b.line}: ${b.error}`).join('; ')}`);
  });
  await reloadAndWait(sessions, signal);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await sessions((s) =>
      select<LiveSetting>(s, 'SELECT name, setting, unit, pending_restart, source FROM pg_settings WHERE name = ANY($1)', [names]),
    );
    const wrong = mismatches(rows, expected);
    if (wrong.length === 0) return;
    if (Date.now() > deadline) throw internal(`the server did not take the configuration group: ${wrong.join('; ')}`);
    await sleep(100, undefined, { signal });
  }
}
