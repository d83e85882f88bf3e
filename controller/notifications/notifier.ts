// The one place workflow code raises events: an operation accepted or
// finished, an instance deletion started, finished or failed. Each call writes
// to the outbox through the caller's transaction; once that commits, whoever
// delivers (the dispatcher, Watch streams) is handed the new events.
import { OperationState } from '../../proto/gen/steward/v1/common.js';
import type { Store } from '../store/open.js';
import type { OperationsTable } from '../store/schema.js';
import { instanceOrderKey, operationEventOf, resourceKindOf } from './catalog.js';
import { priorityOf } from './message.js';
import { appendToOutbox } from './outbox.js';
import { instancePayload } from './payloads/instance.js';
import type { PayloadSettings } from './payloads/settings.js';
import type { OutboxEvent, Payload, Phase, RaisedEvent } from './types.js';
import type { EventType } from '../../managers/sdk/events.js';

export type CommittedListener = (events: readonly OutboxEvent[]) => void;

export interface NotifierOptions {
  publisherId: string;
  payload: PayloadSettings;
}

export class Notifier {
  /** Events written by transactions not yet committed: only a commit makes them news. */
  private readonly raisedIn = new WeakMap<object, OutboxEvent[]>();
  private readonly listeners = new Set<CommittedListener>();

  constructor(private readonly opts: NotifierOptions) {}

  get publisherId(): string {
    return this.opts.publisherId;
  }

  /** Deployment facts Trove payloads carry (region, zone, service ids). */
  get payloadSettings(): PayloadSettings {
    return this.opts.payload;
  }

  /** Called with the events of every commit that added some, in sequence order. Returns the unsubscribe function. */
  onCommitted(fn: CommittedListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Runs `fn` in one store transaction; wakes the deliverers if it raised events. */
  async transaction<T>(store: Store, fn: (trx: Store) => Promise<T>): Promise<T> {
    let trx: Store | undefined;
    const result = await store.transaction().execute(async (t) => {
      trx = t;
      return fn(t);
    });
    const events = trx && this.raisedIn.get(trx);
    if (events) this.publish(events);
    return result;
  }

  /** `.start` when an operation is accepted; `.end` or `.error` (from its state) once it is finished. */
  async operation(db: Store, op: OperationsTable, moment: 'accepted' | 'finished'): Promise<void> {
    const spec = operationEventOf(op.kind);
    if (!spec) return;
    const instance = await db.selectFrom('instances').selectAll().where('id', '=', op.instance_id).executeTakeFirst();
    if (!instance) return;
    const agent = await db.selectFrom('agents').selectAll().where('instance_id', '=', op.instance_id).executeTakeFirst();
    const ctx = { op, instance, agent, settings: this.opts.payload };
    const phase: Phase = moment === 'accepted' ? 'start' : op.state === OperationState.SUCCEEDED ? 'end' : 'error';
    const payload = spec.payload(ctx);
    if (phase === 'error') payload.exception = exceptionOf(op);
    await this.raise(db, {
      eventType: `${spec.type}.${phase}`,
      priority: priorityOf(`.${phase}`),
      resourceKind: resourceKindOf(spec.type),
      resourceId: instance.id,
      orderKey: instanceOrderKey(instance.id),
      tenantId: instance.tenant_id,
      payload,
    });
  }

  /** Instance events that no operation carries (deletion): the payload reflects the row as `db` sees it now. */
  async instance(db: Store, action: string, phase: Phase, instanceId: string, exception?: string): Promise<void> {
    const instance = await db.selectFrom('instances').selectAll().where('id', '=', instanceId).executeTakeFirst();
    if (!instance) return;
    const agent = await db.selectFrom('agents').selectAll().where('instance_id', '=', instanceId).executeTakeFirst();
    const payload = instancePayload(instance, agent, this.opts.payload);
    if (phase === 'error') payload.exception = exception ?? 'unknown error';
    await this.raise(db, {
      eventType: `instance.${action}.${phase}`,
      priority: priorityOf(`.${phase}`),
      resourceKind: 'instance',
      resourceId: instance.id,
      orderKey: instanceOrderKey(instance.id),
      tenantId: instance.tenant_id,
      payload,
    });
  }

  /**
   * An event about a resource that is not an instance (a backup, a cluster),
   * raised by the service that owns it: ordered per resource, `.error` with the
   * exception (what failed, as a string).
   */
  async resourceEvent(
    db: Store,
    type: EventType,
    phase: Phase,
    resource: { id: string; tenantId: string },
    payload: Payload,
    exception?: string,
  ): Promise<void> {
    const kind = resourceKindOf(type);
    if (phase === 'error') payload.exception = exception || 'unknown error';
    await this.raise(db, {
      eventType: `${type}.${phase}`,
      priority: priorityOf(`.${phase}`),
      resourceKind: kind,
      resourceId: resource.id,
      orderKey: `${kind}:${resource.id}`,
      tenantId: resource.tenantId,
      payload,
    });
  }

  /** Writes any catalogued event (cluster and backup workflows call this with their payloads). */
  async raise(db: Store, e: RaisedEvent): Promise<void> {
    const event = await appendToOutbox(db, e, this.opts.publisherId);
    if (!db.isTransaction) return this.publish([event]);
    const pending = this.raisedIn.get(db) ?? [];
    this.raisedIn.set(db, pending);
    pending.push(event);
  }

  private publish(events: readonly OutboxEvent[]): void {
    for (const l of this.listeners) {
      // The state change has committed: a listener's failure must not make its caller think otherwise (the outbox still has the events).
      try {
        l(events);
      } catch {
        // the dispatcher's next scan finds them
      }
    }
  }
}

/** The error as a string, as Trove's `exception` field: the code and its message. */
export function exceptionOf(op: Pick<OperationsTable, 'error_code' | 'error_message' | 'message'>): string {
  const message = op.error_message || op.message || 'failed';
  return op.error_code ? `${op.error_code}: ${message}` : message;
}
