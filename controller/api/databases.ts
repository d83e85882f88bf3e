// The Databases service: thin adapters onto database operations (input checked by the operations table).
import type { DatabasesServer } from '../../proto/gen/steward/v1/api.js';
import { payload, resultOf } from '../../managers/sdk/operations/payload.js';
import { unary } from '../grpc-status.js';
import type { ApiContext } from './context.js';

export function databasesApi(c: ApiContext): DatabasesServer {
  const target = async (metadata: Parameters<ApiContext['scopeOf']>[0], instanceId: string) => {
    const inst = await c.instances.ready(await c.scopeOf(metadata), instanceId);
    c.catalog.require(inst.datastore, 'databases');
    return inst.id;
  };
  return {
    create: unary(c.log, 'Databases.Create', async (req, call) =>
      c.operations.toProto(await c.operations.start(await target(call.metadata, req.instanceId), payload('createDatabases', { databases: req.databases }))),
    ),
    list: unary(c.log, 'Databases.List', async (req, call) => {
      const result = await c.operations.call(await target(call.metadata, req.instanceId), payload('listDatabases', { page: req.page }));
      return resultOf(result, 'databases') ?? { databases: [], nextMarker: '' };
    }),
    delete: unary(c.log, 'Databases.Delete', async (req, call) =>
      c.operations.toProto(
        await c.operations.start(await target(call.metadata, req.instanceId), payload('deleteDatabase', { name: req.name, force: req.terminateConnections })),
      ),
    ),
  };
}
