// The Users service: thin adapters from the API onto user operations. Input is
// checked by the operations table (OperationService.start), not here.
import type { UsersServer } from '../../proto/gen/steward/v1/api.js';
import { invalidArgument } from '../../managers/sdk/errors.js';
import { payload, resultOf } from '../../managers/sdk/operations/payload.js';
import { unary } from '../grpc-status.js';
import type { ApiContext } from './context.js';

export function usersApi(c: ApiContext): UsersServer {
  const target = async (metadata: Parameters<ApiContext['scopeOf']>[0], instanceId: string) => {
    const inst = await c.instances.ready(await c.scopeOf(metadata), instanceId);
    c.catalog.require(inst.datastore, 'users');
    return inst.id;
  };
  const user = (ref: { name: string; host: string } | undefined) => {
    if (!ref) throw invalidArgument('user', 'is required');
    return ref;
  };
  return {
    create: unary(c.log, 'Users.Create', async (req, call) =>
      c.operations.toProto(await c.operations.start(await target(call.metadata, req.instanceId), payload('createUsers', { users: req.users }))),
    ),
    list: unary(c.log, 'Users.List', async (req, call) => {
      const result = await c.operations.call(await target(call.metadata, req.instanceId), payload('listUsers', { page: req.page }));
      return resultOf(result, 'users') ?? { users: [], nextMarker: '' };
    }),
    get: unary(c.log, 'Users.Get', async (req, call) => {
      const result = await c.operations.call(await target(call.metadata, req.instanceId), payload('getUser', user(req.user)));
      return resultOf(result, 'user')!;
    }),
    delete: unary(c.log, 'Users.Delete', async (req, call) =>
      c.operations.toProto(await c.operations.start(await target(call.metadata, req.instanceId), payload('deleteUser', user(req.user)))),
    ),
    changePassword: unary(c.log, 'Users.ChangePassword', async (req, call) =>
      c.operations.toProto(
        await c.operations.start(await target(call.metadata, req.instanceId), payload('changePassword', { user: req.user, password: req.password })),
      ),
    ),
    grant: unary(c.log, 'Users.Grant', async (req, call) =>
      c.operations.toProto(
        await c.operations.start(await target(call.metadata, req.instanceId), payload('grantAccess', { user: req.user, databases: req.databases })),
      ),
    ),
    revoke: unary(c.log, 'Users.Revoke', async (req, call) =>
      c.operations.toProto(
        await c.operations.start(await target(call.metadata, req.instanceId), payload('revokeAccess', { user: req.user, databases: req.databases })),
      ),
    ),
    listAccess: unary(c.log, 'Users.ListAccess', async (req, call) => {
      const result = await c.operations.call(await target(call.metadata, req.instanceId), payload('listAccess', user(req.user)));
      return resultOf(result, 'access') ?? { access: [] };
    }),
  };
}
