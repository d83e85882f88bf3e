// Lists a request carries (users, databases, a user's access): each entry is
// checked under its own field name (`users[2].name`), so the error points at
// the entry, and naming the same thing twice is refused rather than applied twice.
import { invalidArgument } from './errors.js';
import { checkUnique } from './identifiers.js';
import type { Access, PrepareRequest } from './types.js';

export interface ListRules<T> {
  check(item: T, field: string): void;
  /** What makes two entries the same thing. */
  key(item: T): string;
  /** What an entry is, for the duplicate message. */
  what: string;
  /** Refuse an empty list (an operation that would do nothing is a mistake). */
  nonEmpty?: boolean;
}

export function checkList<T>(items: readonly T[], field: string, rules: ListRules<T>): void {
  if (!Array.isArray(items)) throw invalidArgument(field, 'must be a list');
  if (rules.nonEmpty && items.length === 0) throw invalidArgument(field, `must name at least one ${rules.what}`);
  items.forEach((item, i) => rules.check(item, `${field}[${i}]`));
  checkUnique(items, field, rules.key, rules.what);
}

/** A user's access list: each database named validly, and once. */
export function checkAccessList(access: readonly Access[] | undefined, field: string, checkDatabaseName: (name: unknown, field: string) => unknown): void {
  checkList(access ?? [], field, {
    check: (a, f) => checkDatabaseName(a?.database, `${f}.database`),
    key: (a) => a.database,
    what: 'database',
  });
}

/** In a prepare request, users may only be given access to the databases created with them. */
export function checkAccessToCreated(req: PrepareRequest, what = 'database'): void {
  const names = new Set((req.databases ?? []).map((d) => d.name));
  (req.users ?? []).forEach((u, i) =>
    (u.access ?? []).forEach((a, j) => {
      if (!names.has(a.database)) {
        throw invalidArgument(`users[${i}].access[${j}].database`, `'${a.database}' is not one of the ${what}s being created`);
      }
    }),
  );
}

/**
 * A restore brings its databases and users with it: creating more in the same
 * prepare would mix requested objects into restored data, so it is refused.
 */
export function checkRestoreAlone(req: PrepareRequest): void {
  if (!req.restore) return;
  if ((req.databases ?? []).length) throw invalidArgument('databases', 'cannot be created together with a restore from a backup; create them afterwards');
  if ((req.users ?? []).length) throw invalidArgument('users', 'cannot be created together with a restore from a backup; create them afterwards');
}
