// Configuration groups (capability "configuration"): the parameters operators
// may set, as data. Each manager ships its rules (parameters.ts); the controller
// checks a group's values against them before anything is stored, the agent
// checks them again before anything is written, and the manager renders the
// checked values into its config file and applies the dynamic ones at once.
//
// Values travel and are stored as strings in one canonical form per type, so
// what the server is told is exactly what was checked: no free text reaches a
// config file (no quotes, newlines, comment or include characters can pass).
import type { OperationScope } from './contract.js';
import { invalidArgument } from './errors.js';

export type ParameterType = 'integer' | 'float' | 'boolean' | 'enum';

export interface ParameterRule {
  readonly name: string;
  readonly type: ParameterType;
  /** Inclusive bounds for integer and float parameters, in `unit`. */
  readonly min?: number;
  readonly max?: number;
  /** The allowed values of an enum parameter (matched exactly). */
  readonly values?: readonly string[];
  /** The unit the number is in (e.g. "bytes", "kB", "ms", "s"); shown to people, used by the manager when it renders. */
  readonly unit?: string;
  /** True when the server takes a new value without a restart. */
  readonly dynamic: boolean;
  readonly description: string;
}

/** A datastore's parameters and what Steward renders for them by default. */
export interface ParameterCatalog {
  readonly rules: readonly ParameterRule[];
  /** The values Steward renders for the catalog's parameters on an instance of `memoryMb`, canonical like checked values. */
  defaults(memoryMb: number): Record<string, string>;
  /** Why these values (a group's) do not fit an instance of `memoryMb`, naming the parameter; undefined when they do. */
  fits?(values: Record<string, string>, memoryMb: number): string | undefined;
}

/** Parameter names are plain identifiers in every datastore we manage (cassandra.yaml, my.cnf, postgresql.conf, redis.conf). */
const NAME = /^[a-z][a-z0-9_-]{0,63}$/;
const INTEGER = /^-?(?:0|[1-9][0-9]{0,17})$/;
const FLOAT = /^-?(?:0|[1-9][0-9]{0,17})(?:\.[0-9]{1,9})?$/;
const TRUE = new Set(['on', 'true', '1', 'yes']);
const FALSE = new Set(['off', 'false', '0', 'no']);

export function describeRule(r: ParameterRule): string {
  const unit = r.unit ? ` ${r.unit}` : '';
  switch (r.type) {
    case 'integer':
    case 'float':
      return `${r.type === 'integer' ? 'an integer' : 'a number'} from ${r.min ?? '-∞'} to ${r.max ?? '∞'}${unit}`;
    case 'boolean':
      return 'on or off';
    case 'enum':
      return `one of ${(r.values ?? []).join(', ')}`;
  }
}

/**
 * The canonical form of `raw` under `rule` (booleans become "on"/"off",
 * floats lose trailing zeros); INVALID_ARGUMENT naming `field` and
 * the rule otherwise.
 */
export function canonicalValue(rule: ParameterRule, raw: string, field: string): string {
  const refuse = () => invalidArgument(field, `must be ${describeRule(rule)}`);
  if (typeof raw !== 'string' || raw.length > 64) throw refuse();
  // No trimming: a value with spaces or line breaks is refused, never repaired.
  const v = raw;
  switch (rule.type) {
    case 'integer':
    case 'float': {
      if (!(rule.type === 'integer' ? INTEGER : FLOAT).test(v)) throw refuse();
      const n = Number(v);
      if (!Number.isFinite(n) || (rule.min !== undefined && n < rule.min) || (rule.max !== undefined && n > rule.max)) throw refuse();
      return rule.type === 'integer' ? BigInt(v).toString() : String(n);
    }
    case 'boolean': {
      const lower = v.toLowerCase();
      if (TRUE.has(lower)) return 'on';
      if (FALSE.has(lower)) return 'off';
      throw refuse();
    }
    case 'enum':
      if (!rule.values?.includes(v)) throw refuse();
      return v;
  }
}

/**
 * Every value of a group checked and made canonical; names it does not know
 * are refused (a typo is never silently ignored). `field` prefixes the error
 * (e.g. "values" gives "values.max_connections: must be ...").
 */
export function checkParameters(rules: readonly ParameterRule[], values: Record<string, string>, field = 'values'): Record<string, string> {
  const byName = new Map(rules.map((r) => [r.name, r]));
  const out: Record<string, string> = {};
  const names = Object.keys(values);
  if (names.length > rules.length) throw invalidArgument(field, `has ${names.length} parameters; this datastore has ${rules.length}`);
  for (const name of names.sort()) {
    const shown = NAME.test(name) ? name : JSON.stringify(name.slice(0, 64));
    const rule = byName.get(name);
    if (!rule) throw invalidArgument(`${field}.${shown}`, 'is not a parameter this datastore lets a configuration group set');
    out[name] = canonicalValue(rule, values[name]!, `${field}.${name}`);
  }
  return out;
}

/** The names among `changed` that take effect only after a restart. */
export function restartRequired(rules: readonly ParameterRule[], changed: Iterable<string>): string[] {
  const dynamic = new Set(rules.filter((r) => r.dynamic).map((r) => r.name));
  return [...new Set(changed)].filter((n) => !dynamic.has(n)).sort();
}

/** Names whose value differs between two sets of values (a name missing from one side counts). */
export function changedNames(before: Record<string, string>, after: Record<string, string>): string[] {
  return [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((n) => before[n] !== after[n]).sort();
}

/** Rules are data: checked once when a manager loads, so a bad rule fails the build's tests, not an operator. */
export function checkCatalog(catalog: ParameterCatalog): ParameterCatalog {
  const seen = new Set<string>();
  for (const r of catalog.rules) {
    if (!NAME.test(r.name) || seen.has(r.name)) throw new Error(`parameter rule ${r.name}: bad or repeated name`);
    seen.add(r.name);
    if (r.type === 'enum' && !r.values?.length) throw new Error(`parameter rule ${r.name}: an enum needs values`);
    if ((r.type === 'integer' || r.type === 'float') && (r.min === undefined || r.max === undefined || r.min > r.max)) {
      throw new Error(`parameter rule ${r.name}: a number needs min <= max`);
    }
  }
  return catalog;
}

/** What applying a group did: every value now in the config, and those the server takes only at its next restart. */
export interface AppliedConfiguration {
  values: Record<string, string>;
  pendingRestart: string[];
}

/**
 * The agent side (capability "configuration"). `values` are checked and
 * canonical, and are the whole group: a parameter absent from them goes back
 * to Steward's default. The manager persists them so that every later render
 * of its config (restart, replication changes, resize) keeps them.
 */
export interface ConfigurationOps {
  apply(values: Record<string, string>, op: OperationScope): Promise<AppliedConfiguration>;
}
