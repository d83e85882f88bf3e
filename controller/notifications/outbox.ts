// Writing events to the outbox and reading them back for the sinks. The write
// always goes through the caller's transaction: the event exists exactly when
// the state change it reports does.
import { randomUUID } from 'node:crypto';
import type { Store } from '../store/open.js';
import type { NotificationOutboxTable } from '../store/schema.js';
import { osloTimestamp } from './message.js';
import type { Notification, OutboxEvent, Priority, RaisedEvent } from './types.js';

export type OutboxRow = Omit<NotificationOutboxTable, 'seq'> & { seq: number };

/** Writes one event through `db` (the caller's transaction) and returns it as the sinks will see it. */
export async function appendToOutbox(db: Store, e: RaisedEvent, publisherId: string, now = new Date()): Promise<OutboxEvent> {
  const row = {
    message_id: randomUUID(),
    event_type: e.eventType,
    priority: e.priority,
    publisher_id: publisherId,
    resource_kind: e.resourceKind,
    resource_id: e.resourceId,
    order_key: e.orderKey,
    tenant_id: e.tenantId,
    payload: JSON.stringify(e.payload),
    timestamp: osloTimestamp(now),
    created_at: now.toISOString(),
  };
  const { seq } = await db.insertInto('notification_outbox').values(row).returning('seq').executeTakeFirstOrThrow();
  return {
    seq: Number(seq),
    orderKey: row.order_key,
    resourceKind: row.resource_kind,
    resourceId: row.resource_id,
    tenantId: row.tenant_id,
    notification: {
      message_id: row.message_id,
      publisher_id: publisherId,
      event_type: row.event_type,
      priority: e.priority,
      payload: e.payload,
      timestamp: row.timestamp,
    },
  };
}

export function notificationOf(row: OutboxRow): Notification {
  return {
    message_id: row.message_id,
    publisher_id: row.publisher_id,
    event_type: row.event_type,
    priority: row.priority as Priority,
    payload: JSON.parse(row.payload) as Notification['payload'],
    timestamp: row.timestamp,
  };
}

export function eventOf(row: OutboxRow): OutboxEvent {
  return {
    seq: Number(row.seq),
    orderKey: row.order_key,
    resourceKind: row.resource_kind,
    resourceId: row.resource_id,
    tenantId: row.tenant_id,
    notification: notificationOf(row),
  };
}

/** The cursor name under which pruning remembers the highest sequence it deleted. */
export const PRUNED_CURSOR = '~pruned';

/** The newest sequence number ever written: the last row's, or the pruning mark when every row was pruned (0 when none ever was). */
export async function headSeq(db: Store): Promise<number> {
  const r = await db
    .selectFrom('notification_outbox')
    .select((eb) => eb.fn.max('seq').as('max'))
    .executeTakeFirst();
  if (r?.max != null) return Number(r.max);
  return (await readCursor(db, PRUNED_CURSOR)) ?? 0;
}

export async function readCursor(db: Store, name: string): Promise<number | undefined> {
  const r = await db.selectFrom('notification_cursors').select('seq').where('name', '=', name).executeTakeFirst();
  return r ? Number(r.seq) : undefined;
}

export async function writeCursor(db: Store, name: string, seq: number): Promise<void> {
  await db
    .insertInto('notification_cursors')
    .values({ name, seq })
    .onConflict((oc) => oc.column('name').doUpdateSet({ seq }))
    .execute();
}
