// The user and database APIs check their input before a session is opened, so
// bad input is INVALID_ARGUMENT even when the server is down, and a refused
// request never costs a connection. The operations check again themselves.
import type { DatabaseOps, UserOps, Validator } from './contract.js';
import type { Database, Page, User, UserRef } from './types.js';

export interface UserInputRules {
  validator: Validator;
  users(users: readonly User[]): void;
  page(page: Page): void;
  /** The databases a grant or revoke names. */
  databases(names: readonly string[]): void;
}

export function usersCheckedFirst(rules: UserInputRules, ops: UserOps): UserOps {
  const ref = (r: UserRef) => rules.validator.userRef(r, 'user');
  return {
    async create(users, op) {
      rules.users(users);
      return ops.create(users, op);
    },
    async list(page, op) {
      rules.page(page);
      return ops.list(page, op);
    },
    async get(r, op) {
      ref(r);
      return ops.get(r, op);
    },
    async delete(r, op) {
      ref(r);
      return ops.delete(r, op);
    },
    async changePassword(r, password, op) {
      ref(r);
      rules.validator.password(password, 'password');
      return ops.changePassword(r, password, op);
    },
    async grant(r, databases, op) {
      ref(r);
      rules.databases(databases);
      return ops.grant(r, databases, op);
    },
    async revoke(r, databases, op) {
      ref(r);
      rules.databases(databases);
      return ops.revoke(r, databases, op);
    },
    async listAccess(r, op) {
      ref(r);
      return ops.listAccess(r, op);
    },
  };
}

export interface DatabaseInputRules {
  validator: Validator;
  databases(dbs: readonly Database[]): void;
  page(page: Page): void;
}

export function databasesCheckedFirst(rules: DatabaseInputRules, ops: DatabaseOps): DatabaseOps {
  return {
    async create(dbs, op) {
      rules.databases(dbs);
      return ops.create(dbs, op);
    },
    async list(page, op) {
      rules.page(page);
      return ops.list(page, op);
    },
    async delete(name, op, options) {
      rules.validator.databaseName(name, 'name');
      return ops.delete(name, op, options);
    },
  };
}
