// Validation shared by every datastore's Validator. The rules are strict on
// purpose: names end up in SQL/CQL identifiers, file names and log lines, so
// anything outside a plain ASCII pattern is refused before it gets near them.
// Identifier quoting below is defence in depth, never a substitute.
import { invalidArgument, internal } from './errors.js';

export interface NameRules {
  maxLength: number;
  /** Whole-value pattern; anchor it (^...$). */
  pattern: RegExp;
  /** Human description of the pattern, for the error message. */
  patternHint?: string;
  /** Names refused whatever their case. */
  reserved?: readonly string[];
  /** What the value is ("user name", "database name"), for messages. */
  what?: string;
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** A short, safe rendering of untrusted input for an error message. */
export function describeValue(value: string): string {
  const shown = value.length > 40 ? `${value.slice(0, 40)}...` : value;
  return JSON.stringify(shown); // escapes control characters and quotes
}

/** Throws INVALID_ARGUMENT naming `field` unless `value` is a string. */
export function checkString(value: unknown, field: string): string {
  if (typeof value !== 'string') throw invalidArgument(field, 'must be a string');
  return value;
}

/** Validates a name against `rules`; returns it unchanged. */
export function checkName(value: unknown, field: string, rules: NameRules): string {
  const what = rules.what ?? 'name';
  const name = checkString(value, field);
  if (name.length === 0) throw invalidArgument(field, `${what} must not be empty`);
  // Before the length check, so a unicode name is reported as what it is.
  if (!PRINTABLE_ASCII.test(name)) {
    throw invalidArgument(field, `${what} must contain only printable ASCII characters (no unicode or control characters)`);
  }
  if (name.length > rules.maxLength) {
    throw invalidArgument(field, `${what} must be at most ${rules.maxLength} characters (got ${name.length})`);
  }
  if (!rules.pattern.test(name)) {
    const hint = rules.patternHint ?? rules.pattern.source;
    throw invalidArgument(field, `${what} ${describeValue(name)} is not allowed: it must match ${hint}`);
  }
  const lower = name.toLowerCase();
  if (rules.reserved?.some((r) => r.toLowerCase() === lower)) {
    throw invalidArgument(field, `${what} ${describeValue(name)} is reserved`);
  }
  return name;
}

export interface SecretRules {
  minLength: number;
  maxLength: number;
  what?: string;
}

/** Validates a password without ever echoing it. */
export function checkPassword(value: unknown, field: string, rules: SecretRules): string {
  const what = rules.what ?? 'password';
  const pw = checkString(value, field);
  if (pw.length < rules.minLength) throw invalidArgument(field, `${what} must be at least ${rules.minLength} characters`);
  if (pw.length > rules.maxLength) throw invalidArgument(field, `${what} must be at most ${rules.maxLength} characters`);
  if (!PRINTABLE_ASCII.test(pw)) {
    throw invalidArgument(field, `${what} must contain only printable ASCII characters (no NUL, control or unicode characters)`);
  }
  return pw;
}

/** Throws INVALID_ARGUMENT when a list names the same thing twice (by `key`). */
export function checkUnique<T>(items: readonly T[], field: string, key: (item: T) => string, what = 'entry'): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    const k = key(item);
    if (seen.has(k)) throw invalidArgument(`${field}[${i}]`, `duplicate ${what} ${describeValue(key(item))}`);
    seen.add(k);
  });
}

function refuseNul(name: string): void {
  // Validation has already refused these; reaching here is a programming error.
  if (name.includes('\0')) throw internal('identifier contains NUL');
}

/** A MySQL identifier in backticks, embedded backticks doubled. */
export function quoteMysqlIdent(name: string): string {
  refuseNul(name);
  return `\`${name.replaceAll('`', '``')}\``;
}

/** A PostgreSQL identifier in double quotes, embedded double quotes doubled. */
export function quotePgIdent(name: string): string {
  refuseNul(name);
  return `"${name.replaceAll('"', '""')}"`;
}
