import type { ClustersServer } from '../../proto/gen/steward/v1/clusters.js';
import { unary } from '../grpc-status.js';
import type { ClusterService } from '../clusters/service.js';
import type { ApiContext } from './context.js';

export function clustersApi(c: ApiContext, clusters: ClusterService): ClustersServer {
  return {
    create: unary(c.log, 'Clusters.Create', async (req, call) => {
      const caller = await c.caller(call.metadata);
      return clusters.toProto(await clusters.create(caller, req));
    }),
    get: unary(c.log, 'Clusters.Get', async (req, call) => clusters.toProto(await clusters.get(await c.scopeOf(call.metadata), req.id))),
    list: unary(c.log, 'Clusters.List', async (_req, call) => {
      const rows = await clusters.list(await c.scopeOf(call.metadata));
      return { clusters: await Promise.all(rows.map((r) => clusters.toProto(r))) };
    }),
    grow: unary(c.log, 'Clusters.Grow', async (req, call) => clusters.toProto(await clusters.grow(await c.scopeOf(call.metadata), req.id, req.members))),
    shrink: unary(c.log, 'Clusters.Shrink', async (req, call) =>
      clusters.toProto(await clusters.shrink(await c.scopeOf(call.metadata), req.id, req.instanceIds)),
    ),
    delete: unary(c.log, 'Clusters.Delete', async (req, call) => clusters.toProto(await clusters.delete(await c.scopeOf(call.metadata), req.id))),
    ring: unary(c.log, 'Clusters.Ring', async (req, call) => clusters.ring(await c.scopeOf(call.metadata), req.id)),
  };
}
