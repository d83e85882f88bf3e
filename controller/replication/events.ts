// instance.promote (switchover) and instance.failover, each .start/.end/.error,
// raised in the transaction that moves the replica set's task: Trove's instance
// payload of the new primary (or the candidate), with the replica set, the old
// and the new primary and the term.
import type { Notifier } from '../notifications/notifier.js';
import { instancePayload } from '../notifications/payloads/instance.js';
import { instanceOrderKey } from '../notifications/catalog.js';
import { priorityOf } from '../notifications/message.js';
import type { Phase } from '../notifications/types.js';
import type { Store } from '../store/open.js';

export interface PromotionEvent {
  action: 'promote' | 'failover';
  phase: Phase;
  setId: string;
  oldPrimaryId: string;
  /** The promoted instance; before the choice of a failover, the old primary. */
  newPrimaryId: string;
  term: number;
  exception?: string;
}

export async function emitPromotionEvent(notifier: Notifier, trx: Store, e: PromotionEvent): Promise<void> {
  const inst = await trx.selectFrom('instances').selectAll().where('id', '=', e.newPrimaryId).executeTakeFirst();
  if (!inst) return;
  const agent = await trx.selectFrom('agents').selectAll().where('instance_id', '=', inst.id).executeTakeFirst();
  const payload = {
    ...instancePayload(inst, agent, notifier.payloadSettings),
    replica_set_id: e.setId,
    old_primary_id: e.oldPrimaryId,
    new_primary_id: e.newPrimaryId,
    ...(e.term > 0 ? { term: e.term } : {}),
    ...(e.phase === 'error' ? { exception: e.exception || 'unknown error' } : {}),
  };
  await notifier.raise(trx, {
    eventType: `instance.${e.action}.${e.phase}`,
    priority: priorityOf(`.${e.phase}`),
    resourceKind: 'instance',
    resourceId: inst.id,
    orderKey: instanceOrderKey(inst.id),
    tenantId: inst.tenant_id,
    payload,
  });
}
