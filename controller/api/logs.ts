// The Logs service (Trove's guest-log API): list, enable, disable, show,
// publish to the backup storage, list the published copies, discard one.
import type { LogsServer } from '../../proto/gen/steward/v1/logs.js';
import { unary } from '../grpc-status.js';
import type { LogService } from '../logs/service.js';
import type { ApiContext } from './context.js';

export function logsApi(c: ApiContext, logs: LogService): LogsServer {
  return {
    list: unary(c.log, 'Logs.List', async (req, call) => ({ logs: await logs.list(await c.scopeOf(call.metadata), req.id) })),
    enable: unary(c.log, 'Logs.Enable', async (req, call) =>
      c.operations.toProto(await logs.switchLog(await c.scopeOf(call.metadata), req.instanceId, req.name, true, req.thresholdMs)),
    ),
    disable: unary(c.log, 'Logs.Disable', async (req, call) =>
      c.operations.toProto(await logs.switchLog(await c.scopeOf(call.metadata), req.instanceId, req.name, false, 0)),
    ),
    show: unary(c.log, 'Logs.Show', async (req, call) => logs.show(await c.scopeOf(call.metadata), req.instanceId, req.name, req.lines)),
    publish: unary(c.log, 'Logs.Publish', async (req, call) => {
      const { published, operation } = await logs.publish(await c.scopeOf(call.metadata), req.instanceId, req.name);
      return { published: logs.toProto(published), operation: c.operations.toProto(operation) };
    }),
    listPublished: unary(c.log, 'Logs.ListPublished', async (req, call) => {
      const rows = await logs.listPublished(await c.scopeOf(call.metadata), req.instanceId, req.name);
      return { logs: rows.map((r) => logs.toProto(r)) };
    }),
    discard: unary(c.log, 'Logs.Discard', async (req, call) => logs.toProto(await logs.discard(await c.scopeOf(call.metadata), req.id))),
  };
}
