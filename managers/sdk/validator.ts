// Builds a datastore's Validator from its item rules: the list rules (each
// entry checked under its own field name, nothing named twice) and the prepare
// request's rules (users only reach databases created with them, a restore
// comes alone) are the same for every datastore and live here once.
import type { ParameterCatalog } from './configuration.js';
import type { ClusterValidator, Validator } from './contract.js';
import { checkAccessToCreated, checkList, checkRestoreAlone } from './request-lists.js';
import { pageLimit } from './paging.js';
import type { Database, Page, PrepareRequest, User, UserRef } from './types.js';

export interface ItemRules {
  /** What the datastore calls a user and a database, for messages ("role", "keyspace"). */
  readonly words: { readonly user: string; readonly database: string };
  user(user: User, field: string): void;
  /** What makes two users the same account (MySQL: name and host). */
  userKey(user: User): string;
  userRef(ref: UserRef, field: string): void;
  database(db: Database, field: string): void;
  databaseName(name: string, field: string): void;
  password(password: string, field: string): void;
  /** A list request's page marker (what a marker this datastore hands out can look like); the limit is checked here. */
  page?(page: Page | undefined): void;
  /** Rules of a prepare request beyond its lists (cluster membership, ...). */
  prepareExtras?(req: PrepareRequest): void;
  readonly cluster?: ClusterValidator;
  /** The parameters configuration groups may set (capability "configuration"). */
  readonly parameters?: ParameterCatalog;
}

export function validatorOf(rules: ItemRules): Validator {
  const users = (list: readonly User[], field: string) => checkList(list, field, { check: rules.user, key: rules.userKey, what: rules.words.user });
  const databases = (list: readonly Database[], field: string) =>
    checkList(list, field, { check: rules.database, key: (d) => d.name, what: rules.words.database });
  return {
    prepare(req) {
      databases(req.databases ?? [], 'databases');
      users(req.users ?? [], 'users');
      checkAccessToCreated(req, rules.words.database);
      checkRestoreAlone(req);
      rules.prepareExtras?.(req);
    },
    databases,
    users,
    databaseNames: (names, field) => checkList<string>(names, field, { check: rules.databaseName, key: (n) => n, what: rules.words.database, nonEmpty: true }),
    databaseName: rules.databaseName,
    userRef: rules.userRef,
    password: rules.password,
    page(page) {
      pageLimit(page);
      rules.page?.(page);
    },
    cluster: rules.cluster,
    parameters: rules.parameters,
  };
}
