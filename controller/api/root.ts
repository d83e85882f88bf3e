import type { RootServer } from '../../proto/gen/steward/v1/api.js';
import { unary } from '../grpc-status.js';
import type { ApiContext } from './context.js';

export function rootApi(c: ApiContext): RootServer {
  const target = async (metadata: Parameters<ApiContext['tenantOf']>[0], id: string) => {
    const inst = await c.instances.ready(await c.tenantOf(metadata), id);
    c.catalog.require(inst.datastore, 'root');
    return inst;
  };
  return {
    enable: unary(c.log, 'Root.Enable', async (req, call) => {
      const inst = await target(call.metadata, req.id);
      const result = await c.operations.call(inst.id, 'enable_root', { enableRoot: {} }, 60_000);
      return result.root!;
    }),
    disable: unary(c.log, 'Root.Disable', async (req, call) => {
      const inst = await target(call.metadata, req.id);
      return c.operations.toProto(await c.operations.start(inst.id, 'disable_root', { disableRoot: {} }));
    }),
    status: unary(c.log, 'Root.Status', async (req, call) => {
      const inst = await target(call.metadata, req.id);
      const result = await c.operations.call(inst.id, 'root_status', { rootStatus: {} });
      return result.root!;
    }),
  };
}
