// The Operations service: get, wait, list and cancel, for operations of the caller's instances.
import type { OperationsServer } from '../../proto/gen/steward/v1/api.js';
import { notFound } from '../../managers/sdk/errors.js';
import { isTerminal } from '../../managers/sdk/operations/state.js';
import { unary } from '../grpc-status.js';
import { canSee } from '../tenancy.js';
import type { ApiContext } from './context.js';

const MAX_WAIT_MS = 10 * 60_000;

export function operationsApi(c: ApiContext): OperationsServer {
  /** The operation, if its instance belongs to the caller (NOT_FOUND otherwise, as for a missing id). */
  const owned = async (metadata: Parameters<ApiContext['scopeOf']>[0], id: string) => {
    const op = await c.operations.get(id);
    const inst = await c.store.selectFrom('instances').select('tenant_id').where('id', '=', op.instance_id).executeTakeFirst();
    if (!inst || !canSee(await c.scopeOf(metadata), inst.tenant_id)) throw notFound(`operation ${id} not found`);
    return op;
  };
  return {
    get: unary(c.log, 'Operations.Get', async (req, call) => c.operations.toProto(await owned(call.metadata, req.id))),
    wait: unary(c.log, 'Operations.Wait', async (req, call) => {
      await owned(call.metadata, req.id);
      const timeout = Math.min(req.timeoutMs || 60_000, MAX_WAIT_MS);
      return c.operations.toProto(await c.operations.wait(req.id, timeout));
    }),
    list: unary(c.log, 'Operations.List', async (req, call) => {
      const inst = await c.instances.get(await c.scopeOf(call.metadata), req.instanceId);
      return { operations: (await c.operations.list(inst.id)).map((o) => c.operations.toProto(o)) };
    }),
    cancel: unary(c.log, 'Operations.Cancel', async (req, call) => {
      const op = await owned(call.metadata, req.id);
      if (!isTerminal(op.state)) await c.operations.abandon(op, 'CANCELLED', 'cancelled by the user');
      return c.operations.toProto(await c.operations.get(op.id));
    }),
  };
}
