// The Configurations service (configuration groups): CRUD, attach and detach,
// and each datastore's rules with Steward's defaults.
import type { ConfigurationsServer } from '../../proto/gen/steward/v1/configurations.js';
import type { ConfigurationService } from '../configurations/service.js';
import { unary } from '../grpc-status.js';
import type { ApiContext } from './context.js';

export function configurationsApi(c: ApiContext, groups: ConfigurationService): ConfigurationsServer {
  return {
    create: unary(c.log, 'Configurations.Create', async (req, call) => {
      const caller = await c.caller(call.metadata);
      return groups.toProto(await groups.create(caller.tenantId, req));
    }),
    get: unary(c.log, 'Configurations.Get', async (req, call) => groups.toProto(await groups.get(await c.scopeOf(call.metadata), req.id))),
    list: unary(c.log, 'Configurations.List', async (_req, call) => {
      const rows = await groups.list(await c.scopeOf(call.metadata));
      return { groups: await Promise.all(rows.map((r) => groups.toProto(r))) };
    }),
    update: unary(c.log, 'Configurations.Update', async (req, call) => {
      const { group, operations } = await groups.update(await c.scopeOf(call.metadata), req);
      return { group: await groups.toProto(group), operations: operations.map((o) => c.operations.toProto(o)) };
    }),
    delete: unary(c.log, 'Configurations.Delete', async (req, call) => groups.toProto(await groups.delete(await c.scopeOf(call.metadata), req.id))),
    attach: unary(c.log, 'Configurations.Attach', async (req, call) =>
      c.operations.toProto(await groups.attach(await c.scopeOf(call.metadata), req.instanceId, req.configurationId)),
    ),
    detach: unary(c.log, 'Configurations.Detach', async (req, call) => c.operations.toProto(await groups.detach(await c.scopeOf(call.metadata), req.id))),
    defaults: unary(c.log, 'Configurations.Defaults', async (req, call) => {
      await c.caller(call.metadata);
      return groups.defaults(req.datastore, req.memoryMb);
    }),
  };
}
