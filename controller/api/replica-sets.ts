// The ReplicaSets service: thin adapters onto ReplicationService (docs/replication.md).
import type { ReplicaSetsServer } from '../../proto/gen/steward/v1/replication.js';
import { unary } from '../grpc-status.js';
import type { ReplicationService } from '../replication/service.js';
import type { ApiContext } from './context.js';

export function replicaSetsApi(c: ApiContext, replication: ReplicationService): ReplicaSetsServer {
  const view = async (p: Promise<Parameters<ReplicationService['toProto']>[0]>) => replication.toProto(await p);
  return {
    get: unary(c.log, 'ReplicaSets.Get', async (req, call) => view(replication.get(await c.scopeOf(call.metadata), req.id))),
    update: unary(c.log, 'ReplicaSets.Update', async (req, call) => view(replication.update(await c.scopeOf(call.metadata), req))),
    promote: unary(c.log, 'ReplicaSets.Promote', async (req, call) => view(replication.promote(await c.scopeOf(call.metadata), req.instanceId))),
    failover: unary(c.log, 'ReplicaSets.Failover', async (req, call) => view(replication.failover(await c.scopeOf(call.metadata), req.id, req.force))),
    detach: unary(c.log, 'ReplicaSets.Detach', async (req, call) => view(replication.detach(await c.scopeOf(call.metadata), req.instanceId))),
  };
}
