// The Root service: enable (the password is answered once), disable, status.
import type { RootServer } from '../../proto/gen/steward/v1/api.js';
import { payload, resultOf } from '../../managers/sdk/operations/payload.js';
import { unary } from '../grpc-status.js';
import type { ApiContext } from './context.js';

export function rootApi(c: ApiContext): RootServer {
  const target = async (metadata: Parameters<ApiContext['scopeOf']>[0], id: string) => {
    const inst = await c.instances.ready(await c.scopeOf(metadata), id);
    c.catalog.require(inst.datastore, 'root');
    return inst.id;
  };
  return {
    enable: unary(
      c.log,
      'Root.Enable',
      async (req, call) => resultOf(await c.operations.call(await target(call.metadata, req.id), payload('enableRoot', {})), 'root')!,
    ),
    disable: unary(c.log, 'Root.Disable', async (req, call) =>
      c.operations.toProto(await c.operations.start(await target(call.metadata, req.id), payload('disableRoot', {}))),
    ),
    status: unary(
      c.log,
      'Root.Status',
      async (req, call) => resultOf(await c.operations.call(await target(call.metadata, req.id), payload('rootStatus', {})), 'root')!,
    ),
  };
}
