import type { DatabasesServer } from '../../proto/gen/steward/v1/api.js';
import { invalidArgument } from '../../managers/sdk/errors.js';
import { unary } from '../grpc-status.js';
import type { ApiContext } from './context.js';
import { checkPage } from './paging.js';

export function databasesApi(c: ApiContext): DatabasesServer {
  const target = async (metadata: Parameters<ApiContext['tenantOf']>[0], instanceId: string) => {
    const inst = await c.instances.ready(await c.tenantOf(metadata), instanceId);
    return { inst, module: c.catalog.require(inst.datastore, 'databases') };
  };
  return {
    create: unary(c.log, 'Databases.Create', async (req, call) => {
      const { inst, module } = await target(call.metadata, req.instanceId);
      if (req.databases.length === 0) throw invalidArgument('databases', 'name at least one database');
      req.databases.forEach((d, i) => module.validator.database(d, `databases[${i}]`));
      return c.operations.toProto(await c.operations.start(inst.id, 'create_databases', { createDatabases: { databases: req.databases } }));
    }),
    list: unary(c.log, 'Databases.List', async (req, call) => {
      const { inst } = await target(call.metadata, req.instanceId);
      const page = checkPage(req.page);
      const result = await c.operations.call(inst.id, 'list_databases', { listDatabases: { page } });
      return result.databases ?? { databases: [], nextMarker: '' };
    }),
    delete: unary(c.log, 'Databases.Delete', async (req, call) => {
      const { inst, module } = await target(call.metadata, req.instanceId);
      module.validator.databaseName(req.name, 'name');
      return c.operations.toProto(await c.operations.start(inst.id, 'delete_database', { deleteDatabase: { name: req.name, force: req.terminateConnections } }));
    }),
  };
}
