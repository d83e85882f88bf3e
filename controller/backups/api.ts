// The public Backups service. Registered by server.ts as
//   apiServer.addService(BackupsService, backupsApi(ctx, backups))
import type { BackupsServer } from '../../proto/gen/steward/v1/backups.js';
import { unary } from '../grpc-status.js';
import type { ApiContext } from '../api/context.js';
import { backupProto } from './records.js';
import type { BackupService } from './service.js';

export function backupsApi(c: ApiContext, backups: BackupService): BackupsServer {
  return {
    create: unary(c.log, 'Backups.Create', async (req, call) => {
      const row = await backups.create(await c.scopeOf(call.metadata), req);
      return backupProto(row, await backups.bytesDone(row));
    }),
    get: unary(c.log, 'Backups.Get', async (req, call) => {
      const row = await backups.get(await c.scopeOf(call.metadata), req.id);
      return backupProto(row, await backups.bytesDone(row));
    }),
    list: unary(c.log, 'Backups.List', async (req, call) => {
      const scope = await c.scopeOf(call.metadata);
      if (req.instanceId) await c.instances.get(scope, req.instanceId); // NOT_FOUND for another tenant's instance
      const rows = await backups.list(scope, req.instanceId);
      return { backups: await Promise.all(rows.map(async (r) => backupProto(r, await backups.bytesDone(r)))) };
    }),
    delete: unary(c.log, 'Backups.Delete', async (req, call) => {
      return { deletedIds: await backups.delete(await c.scopeOf(call.metadata), req.id, req.chain) };
    }),
  };
}
