import type { UsersServer } from '../../proto/gen/steward/v1/api.js';
import type { UserRef } from '../../proto/gen/steward/v1/common.js';
import type { Validator } from '../../managers/sdk/contract.js';
import { invalidArgument } from '../../managers/sdk/errors.js';
import { unary } from '../grpc-status.js';
import type { ApiContext } from './context.js';
import { checkPage } from './paging.js';

function userRef(v: Validator, ref: UserRef | undefined): UserRef {
  if (!ref) throw invalidArgument('user', 'is required');
  v.userRef(ref, 'user');
  return ref;
}

function databases(v: Validator, names: string[]): string[] {
  if (names.length === 0) throw invalidArgument('databases', 'name at least one database');
  names.forEach((n, i) => v.databaseName(n, `databases[${i}]`));
  return names;
}

export function usersApi(c: ApiContext): UsersServer {
  const target = async (metadata: Parameters<ApiContext['tenantOf']>[0], instanceId: string) => {
    const inst = await c.instances.ready(await c.tenantOf(metadata), instanceId);
    return { inst, v: c.catalog.require(inst.datastore, 'users').validator };
  };
  return {
    create: unary(c.log, 'Users.Create', async (req, call) => {
      const { inst, v } = await target(call.metadata, req.instanceId);
      if (req.users.length === 0) throw invalidArgument('users', 'name at least one user');
      req.users.forEach((u, i) => {
        v.user(u, `users[${i}]`);
        u.access.forEach((a, j) => v.databaseName(a.database, `users[${i}].access[${j}].database`));
      });
      return c.operations.toProto(await c.operations.start(inst.id, 'create_users', { createUsers: { users: req.users } }));
    }),
    list: unary(c.log, 'Users.List', async (req, call) => {
      const { inst } = await target(call.metadata, req.instanceId);
      const result = await c.operations.call(inst.id, 'list_users', { listUsers: { page: checkPage(req.page) } });
      return result.users ?? { users: [], nextMarker: '' };
    }),
    get: unary(c.log, 'Users.Get', async (req, call) => {
      const { inst, v } = await target(call.metadata, req.instanceId);
      const result = await c.operations.call(inst.id, 'get_user', { getUser: userRef(v, req.user) });
      return result.user!;
    }),
    delete: unary(c.log, 'Users.Delete', async (req, call) => {
      const { inst, v } = await target(call.metadata, req.instanceId);
      return c.operations.toProto(await c.operations.start(inst.id, 'delete_user', { deleteUser: userRef(v, req.user) }));
    }),
    changePassword: unary(c.log, 'Users.ChangePassword', async (req, call) => {
      const { inst, v } = await target(call.metadata, req.instanceId);
      const user = userRef(v, req.user);
      v.password(req.password, 'password');
      return c.operations.toProto(await c.operations.start(inst.id, 'change_password', { changePassword: { user, password: req.password } }));
    }),
    grant: unary(c.log, 'Users.Grant', async (req, call) => {
      const { inst, v } = await target(call.metadata, req.instanceId);
      const payload = { user: userRef(v, req.user), databases: databases(v, req.databases) };
      return c.operations.toProto(await c.operations.start(inst.id, 'grant_access', { grantAccess: payload }));
    }),
    revoke: unary(c.log, 'Users.Revoke', async (req, call) => {
      const { inst, v } = await target(call.metadata, req.instanceId);
      const payload = { user: userRef(v, req.user), databases: databases(v, req.databases) };
      return c.operations.toProto(await c.operations.start(inst.id, 'revoke_access', { revokeAccess: payload }));
    }),
    listAccess: unary(c.log, 'Users.ListAccess', async (req, call) => {
      const { inst, v } = await target(call.metadata, req.instanceId);
      const result = await c.operations.call(inst.id, 'list_access', { listAccess: userRef(v, req.user) });
      return result.access ?? { access: [] };
    }),
  };
}
