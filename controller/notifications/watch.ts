// Events.Watch: streams the outbox to a gRPC client, from a cursor, with
// filters and tenant scoping. It reads the outbox itself (it is not a
// dispatcher sink): the outbox sequence is assigned in commit order (SQLite has
// one writer), so reading "everything after N" again after a disconnect yields
// every later event once, without gaps. Woken on local commits; polls for
// events written by another controller process.
import { once } from 'node:events';
import { Metadata, status, type ServerWritableStream } from '@grpc/grpc-js';
import type { EventEnvelope, EventsServer, WatchRequest } from '../../proto/gen/steward/v1/events.js';
import { StewardError, invalidArgument } from '../../managers/sdk/errors.js';
import type { Logger } from '../../managers/sdk/logger.js';
import { toServiceError } from '../grpc-status.js';
import type { Store } from '../store/open.js';
import type { Caller } from '../tokens.js';
import { EVENT_CATALOG, isResourceKind } from '../../managers/sdk/events.js';
import type { Notifier } from './notifier.js';
import { headSeq, type OutboxRow } from './outbox.js';
import { prunedThrough } from './prune.js';

export interface WatchDeps {
  store: Store;
  notifier: Notifier;
  caller(metadata: Metadata): Promise<Caller>;
  log: Logger;
  pollMs: number;
}

const PAGE = 500;
/** Response metadata: the cursor the stream starts after. */
export const CURSOR_METADATA = 'steward-cursor';
const MAX_FILTERS = 100;
const TYPE_PATTERN = /^(\*|[a-z_]+(\.[a-z_]+){0,2}(\.\*|\*)?)$/;

export interface WatchFilter {
  kinds: string[];
  ids: string[];
  exact: Set<string>;
  prefixes: string[];
}

export function parseFilter(req: WatchRequest): WatchFilter {
  const list = (values: string[], field: string) => {
    if (values.length > MAX_FILTERS) throw invalidArgument(field, `at most ${MAX_FILTERS} entries`);
    values.forEach((v, i) => {
      if (!v || v.length > 255 || /\p{Cc}/u.test(v)) throw invalidArgument(`${field}[${i}]`, 'must be 1-255 printable characters');
    });
    return values;
  };
  const kinds = list(req.resourceKinds, 'resource_kinds');
  kinds.forEach((k, i) => {
    if (!isResourceKind(k)) throw invalidArgument(`resource_kinds[${i}]`, `unknown kind "${k}" (known: ${Object.keys(EVENT_CATALOG).join(', ')})`);
  });
  const types = list(req.eventTypes, 'event_types');
  types.forEach((t, i) => {
    if (!TYPE_PATTERN.test(t))
      throw invalidArgument(`event_types[${i}]`, 'must be an event type ("instance.create.end") or a prefix ending in "*" ("instance.*")');
  });
  return {
    kinds,
    ids: list(req.resourceIds, 'resource_ids'),
    exact: new Set(types.filter((t) => !t.endsWith('*'))),
    prefixes: types.filter((t) => t.endsWith('*')).map((t) => t.slice(0, -1)),
  };
}

export function typeMatches(f: WatchFilter, eventType: string): boolean {
  if (f.exact.size === 0 && f.prefixes.length === 0) return true;
  return f.exact.has(eventType) || f.prefixes.some((p) => eventType.startsWith(p));
}

export function envelopeOf(r: OutboxRow): EventEnvelope {
  return {
    cursor: String(r.seq),
    messageId: r.message_id,
    eventType: r.event_type,
    priority: r.priority,
    publisherId: r.publisher_id,
    timestamp: r.timestamp,
    resourceKind: r.resource_kind,
    resourceId: r.resource_id,
    payloadJson: r.payload,
  };
}

type Call = ServerWritableStream<WatchRequest, EventEnvelope>;

export class WatchService {
  private readonly streams = new Set<Call>();
  private closed = false;

  constructor(private readonly d: WatchDeps) {}

  handlers(): EventsServer {
    return {
      watch: (call: Call) => {
        this.streams.add(call);
        this.serve(call)
          .catch((err) => {
            if (call.cancelled) return;
            const se = err instanceof StewardError || !(err as { code?: unknown }).code ? toServiceError(err) : err;
            call.emit('error', se);
          })
          .finally(() => this.streams.delete(call));
      },
    };
  }

  /** Ends every stream with UNAVAILABLE (the controller is stopping): clients resume from their cursor. */
  close(): void {
    this.closed = true;
    for (const call of this.streams) call.emit('error', { code: status.UNAVAILABLE, details: 'controller stopping: resume from your last cursor' });
    this.streams.clear();
  }

  private async serve(call: Call): Promise<void> {
    const caller = await this.d.caller(call.metadata);
    const filter = parseFilter(call.request);
    const { store } = this.d;
    let pos = await this.startingPoint(call.request.cursor);
    // Where the stream starts, so a client that asked for "from now on" can resume without a gap before its first event.
    const md = new Metadata();
    md.set(CURSOR_METADATA, String(pos));
    call.sendMetadata(md);

    let woken = false;
    let wakeUp: (() => void) | undefined;
    const wake = () => {
      woken = true;
      wakeUp?.();
    };
    const unsubscribe = this.d.notifier.onCommitted(wake);
    call.on('cancelled', wake);
    call.on('close', wake);
    const open = () => !this.closed && !call.cancelled && !call.destroyed && !call.writableEnded;
    try {
      while (open()) {
        woken = false;
        const head = await headSeq(store);
        if (head > pos) {
          let q = store.selectFrom('notification_outbox').selectAll().where('seq', '>', pos).where('seq', '<=', head);
          if (!caller.scope.all) q = q.where('tenant_id', '=', caller.scope.tenantId);
          if (filter.kinds.length) q = q.where('resource_kind', 'in', filter.kinds);
          if (filter.ids.length) q = q.where('resource_id', 'in', filter.ids);
          const rows = (await q.orderBy('seq').limit(PAGE).execute()) as OutboxRow[];
          for (const r of rows) {
            if (!open()) return;
            if (typeMatches(filter, r.event_type) && !call.write(envelopeOf(r))) await Promise.race([once(call, 'drain'), once(call, 'close')]);
          }
          pos = rows.length === PAGE ? Number(rows[rows.length - 1].seq) : head;
          if (rows.length === PAGE) continue;
        }
        if (woken || !open()) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, this.d.pollMs);
          function done() {
            clearTimeout(timer);
            wakeUp = undefined;
            resolve();
          }
          wakeUp = done;
        });
      }
    } finally {
      unsubscribe();
    }
  }

  /** Where a stream starts: after the cursor, or at the head for "only new events". */
  private async startingPoint(cursor: string): Promise<number> {
    if (cursor === '') return headSeq(this.d.store);
    if (!/^\d{1,15}$/.test(cursor)) throw invalidArgument('cursor', 'must be a cursor from an earlier event, "0", or empty');
    const seq = Number(cursor);
    if (seq > (await headSeq(this.d.store))) throw invalidArgument('cursor', 'is ahead of the newest event: it comes from another controller store');
    const pruned = await prunedThrough(this.d.store);
    if (seq < pruned) {
      throw Object.assign(new Error(`events up to cursor ${pruned} are no longer kept: resume from "${pruned}" and reconcile`), {
        code: status.OUT_OF_RANGE,
        details: `events up to cursor ${pruned} are no longer kept: resume from "${pruned}" and reconcile`,
      });
    }
    return seq;
  }
}
