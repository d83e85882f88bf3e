import type { InstancesServer } from '../../proto/gen/steward/v1/api.js';
import { payload } from '../../managers/sdk/operations/payload.js';
import { unary } from '../grpc-status.js';
import type { ApiContext } from './context.js';
import { invalidArgument } from '../../managers/sdk/errors.js';
import type { ReplicationService } from '../replication/service.js';

export function instancesApi(c: ApiContext, replication: ReplicationService): InstancesServer {
  return {
    create: unary(c.log, 'Instances.Create', async (req, call) => {
      const caller = await c.caller(call.metadata);
      if (req.replicaOf) {
        // Replicas are prepared by their replica set's workflow, once the seed backup of the source exists.
        const made = await replication.createReplicas(caller, req);
        const replicas = await Promise.all(made.map((m) => c.instances.toProto(m.instance)));
        return { instance: replicas[0], operation: undefined, enrollmentToken: made[0].enrollmentToken, replicas };
      }
      if (req.replicaCount || req.synchronous || req.failover || req.maxLag) {
        throw invalidArgument('replica_of', 'replica_count, synchronous, failover and max_lag are options of a replica: name its source');
      }
      const { instance, prepare, enrollmentToken } = await c.instances.create(caller, req);
      return { instance: await c.instances.toProto(instance), operation: prepare && c.operations.toProto(prepare), enrollmentToken, replicas: [] };
    }),
    get: unary(c.log, 'Instances.Get', async (req, call) => {
      const row = await c.instances.get(await c.scopeOf(call.metadata), req.id);
      return c.instances.toProto(row);
    }),
    list: unary(c.log, 'Instances.List', async (_req, call) => {
      const rows = await c.instances.list(await c.scopeOf(call.metadata));
      return { instances: await Promise.all(rows.map((r) => c.instances.toProto(r))) };
    }),
    delete: unary(c.log, 'Instances.Delete', async (req, call) => {
      const row = await c.instances.delete(await c.scopeOf(call.metadata), req.id, { detachReplicas: req.detachReplicas });
      return { instance: await c.instances.toProto(row) };
    }),
    restart: unary(c.log, 'Instances.Restart', async (req, call) => {
      const op = await c.instances.restart(await c.scopeOf(call.metadata), req.id);
      return c.operations.toProto(op);
    }),
    ping: unary(c.log, 'Instances.Ping', async (req, call) => {
      const inst = await c.instances.get(await c.scopeOf(call.metadata), req.instanceId);
      const op = await c.operations.start(inst.id, payload('noop', { echo: req.echo.slice(0, 1024) }));
      return c.operations.toProto(await c.operations.wait(op.id, op.deadline_at - Date.now()));
    }),
    resize: unary(c.log, 'Instances.Resize', async (req, call) =>
      c.operations.toProto(await c.instances.resize(await c.scopeOf(call.metadata), req.id, req.memoryMb)),
    ),
    resizeVolume: unary(c.log, 'Instances.ResizeVolume', async (req, call) =>
      c.operations.toProto(await c.instances.resizeVolume(await c.scopeOf(call.metadata), req.id, req.volumeSizeMb)),
    ),
    rename: unary(c.log, 'Instances.Rename', async (req, call) =>
      c.instances.toProto(await c.instances.rename(await c.scopeOf(call.metadata), req.id, req.name)),
    ),
    newEnrollmentToken: unary(c.log, 'Instances.NewEnrollmentToken', async (req, call) => {
      const inst = await c.instances.get(await c.scopeOf(call.metadata), req.id);
      const { token, expiresAt } = await c.security.enrollment.issue(inst.id);
      return { enrollmentToken: token, expiresAt: new Date(expiresAt).toISOString() };
    }),
  };
}
