// The single place backup notifications are raised (backup.create and
// backup.delete, .start/.end/.error), always inside the transaction that
// changes the backup's row, so an event never reports a state that did not
// commit.
import { backupPayload } from '../notifications/payloads/backup.js';
import type { Notifier } from '../notifications/notifier.js';
import type { Phase } from '../notifications/types.js';
import type { Store } from '../store/open.js';
import type { BackupsTable } from './schema.js';

export async function emitBackupEvent(
  notifier: Notifier,
  trx: Store,
  action: 'create' | 'delete',
  phase: Phase,
  b: BackupsTable,
  exception?: string,
): Promise<void> {
  const payload = backupPayload({
    id: b.id,
    name: b.name,
    description: b.description || null,
    instanceId: b.instance_id,
    tenantId: b.tenant_id,
    created: b.created_at,
    updated: b.updated_at,
    status: b.status,
    size: b.size,
    parentId: b.parent_id,
    locationRef: b.location,
  });
  await notifier.resourceEvent(trx, `backup.${action}`, phase, { id: b.id, tenantId: b.tenant_id }, payload, exception ?? b.message);
}
