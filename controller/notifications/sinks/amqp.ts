// The AMQP 0-9-1 sink: each event in the oslo.messaging v2 envelope, published
// persistent on a topic exchange with routing key `notifications.<priority>`,
// counted as delivered only on the broker's publisher confirm. The exchange
// and the default queues are declared exactly as oslo.messaging's rabbit
// driver declares them (durable and auto-delete from its amqp_durable_queues
// and amqp_auto_delete, no queue arguments), so that a real oslo.messaging
// listener started before or after the controller agrees with them. No
// reconnect logic of its own: a failed batch is retried by the dispatcher's
// backoff, and the next batch opens a new connection.
import { connect, type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { Logger } from '../../../managers/sdk/logger.js';
import { osloEnvelope, routingKey } from '../message.js';
import type { OutboxEvent, Priority } from '../types.js';
import type { Sink } from './sink.js';

export interface AmqpSinkOptions {
  url: string;
  exchange: string;
  /** oslo.messaging's amqp_durable_queues: the exchange and the queues. */
  durable: boolean;
  /** oslo.messaging's amqp_auto_delete. */
  autoDelete: boolean;
  declareQueues: boolean;
  confirmTimeoutMs: number;
  connectTimeoutMs: number;
}

const PRIORITIES: Priority[] = ['INFO', 'ERROR'];

/** The URL without its password, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'amqp://(unparseable url)';
  }
}

/** What oslo.messaging calls each setting, and this controller's key for it. */
const SETTINGS: Record<string, { ours: string; oslo: string }> = {
  durable: { ours: 'notifications.amqp.durable', oslo: '[oslo_messaging_rabbit] amqp_durable_queues (default false)' },
  auto_delete: { ours: 'notifications.amqp.autoDelete', oslo: '[oslo_messaging_rabbit] amqp_auto_delete (default false)' },
};

/**
 * RabbitMQ refused a declaration because the exchange or queue exists with
 * other settings (406 PRECONDITION_FAILED, "inequivalent arg"). Says exactly
 * which object, which setting, what the broker has and what was declared, and
 * how to make them agree. Nothing is published until they do: the events wait
 * in the outbox.
 */
export class DeclarationMismatch extends Error {
  constructor(
    readonly kind: 'exchange' | 'queue',
    readonly object: string,
    readonly vhost: string,
    readonly argument: string,
    readonly declared: string,
    readonly existing: string,
  ) {
    const setting = SETTINGS[argument];
    const fix = setting
      ? `set ${setting.ours}: ${existing} to match the consumers (oslo.messaging: ${setting.oslo}), or make the consumers match and delete the ${kind}`
      : argument === 'type'
        ? `oslo.messaging publishes notifications on a topic exchange: delete the ${kind} or choose another notifications.amqp.exchange`
        : `the consumers declare the queue with argument ${argument} (oslo.messaging: rabbit_quorum_queue, rabbit_ha_queues, rabbit_queue_ttl); set notifications.amqp.declareQueues: false to leave the queues to them`;
    super(
      `AMQP declaration mismatch: ${kind} '${object}' in vhost '${vhost}' exists with ${argument}=${existing}, ` +
        `but this controller declares ${argument}=${declared}; ${fix}. Events wait in the outbox until they agree.`,
    );
    this.name = 'DeclarationMismatch';
  }
}

const INEQUIVALENT = /inequivalent arg '([^']+)' for (exchange|queue) '([^']*)' in vhost '([^']*)': received (.+?) but current is (.+?)"?$/;

/** The mismatch a broker's channel-closing error describes, if it is one. */
export function declarationMismatch(err: unknown): DeclarationMismatch | undefined {
  const m = INEQUIVALENT.exec(err instanceof Error ? err.message : String(err));
  if (!m) return undefined;
  const [, argument, kind, object, vhost, received, current] = m;
  // 'true' for flags; "none" or "the value 'quorum' of type 'longstr'" for queue arguments.
  const shown = (v: string) => (/^'[^']*'$/.test(v) ? v.slice(1, -1) : v === 'none' ? '(none)' : v);
  return new DeclarationMismatch(kind as 'exchange' | 'queue', object, vhost, argument, shown(received), shown(current));
}

export class AmqpSink implements Sink {
  readonly name = 'amqp';
  /**
   * The broker confirms each message on its own: a nack (or a lost connection)
   * can hit one message and not the next. So one resource's events in a batch
   * are published one after the other, each after the previous one's confirm,
   * and the rest are given up at the first failure; different resources are
   * published side by side.
   */
  readonly maxPerKey = 64;
  /** Confirms take a round trip: the next batch (other resources) goes out meanwhile. */
  readonly maxInFlight = 4;
  private conn?: ChannelModel;
  private channel?: ConfirmChannel;
  private opening?: Promise<ConfirmChannel>;
  /** The last declaration mismatch logged (each distinct one is logged once). */
  private reported?: string;

  constructor(
    private readonly opts: AmqpSinkOptions,
    private readonly log: Logger,
  ) {}

  async deliver(events: OutboxEvent[]): Promise<Array<Error | undefined>> {
    let ch: ConfirmChannel;
    try {
      ch = await this.channelOrConnect();
    } catch (err) {
      return events.map(() => err as Error);
    }
    const results: Array<Error | undefined> = new Array(events.length);
    const chains = new Map<string, number[]>();
    events.forEach((e, i) => {
      const chain = chains.get(e.orderKey) ?? [];
      chains.set(e.orderKey, chain);
      chain.push(i);
    });
    await Promise.all(
      [...chains.values()].map(async (indexes) => {
        let blockedBy: Error | undefined;
        for (const i of indexes) {
          if (blockedBy) {
            results[i] = new Error(`not published: an earlier event of ${events[i].orderKey} failed: ${blockedBy.message}`);
            continue;
          }
          results[i] = await this.publish(ch, events[i]);
          blockedBy = results[i];
        }
      }),
    );
    // A missing confirm means a dead or stuck connection: start afresh next time.
    if (results.some((r) => r)) await this.reset();
    return results;
  }

  async open(): Promise<void> {
    await this.channelOrConnect();
  }

  async close(): Promise<void> {
    await this.reset();
  }

  private publish(ch: ConfirmChannel, e: OutboxEvent): Promise<Error | undefined> {
    const n = e.notification;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(new Error(`no publisher confirm within ${this.opts.confirmTimeoutMs} ms`)), this.opts.confirmTimeoutMs);
      const done = (err?: unknown) => {
        clearTimeout(timer);
        resolve(err ? (err instanceof Error ? err : new Error(String(err))) : undefined);
      };
      try {
        ch.publish(
          this.opts.exchange,
          routingKey(n.priority),
          Buffer.from(JSON.stringify(osloEnvelope(n))),
          { persistent: true, contentType: 'application/json', contentEncoding: 'utf-8', messageId: n.message_id, type: n.event_type },
          (err) => done(err),
        );
      } catch (err) {
        done(err);
      }
    });
  }

  private channelOrConnect(): Promise<ConfirmChannel> {
    if (this.channel) return Promise.resolve(this.channel);
    this.opening ??= this.connect().finally(() => (this.opening = undefined));
    return this.opening;
  }

  private async connect(): Promise<ConfirmChannel> {
    const conn = await connect(this.opts.url, { timeout: this.opts.connectTimeoutMs });
    const forget = (why: string) => (err?: Error) => {
      if (this.conn !== conn) return;
      this.log.warn({ broker: redactUrl(this.opts.url), err: err?.message }, `AMQP connection ${why}`);
      this.conn = undefined;
      this.channel = undefined;
    };
    // Without listeners these events would be thrown and end the controller.
    conn.on('error', forget('failed'));
    conn.on('close', forget('closed'));
    try {
      const ch = await conn.createConfirmChannel();
      ch.on('error', (err: Error) => {
        // A declaration mismatch is logged once, as such, by connect().
        if (!declarationMismatch(err)) this.log.warn({ err: err.message }, 'AMQP channel error');
      });
      ch.on('close', () => {
        // A channel the broker closed takes its connection along, so none is left behind.
        if (this.channel === ch) void this.reset();
      });
      // As oslo.messaging's notify_send and _publish_and_creates_default_queue declare them.
      const settings = { durable: this.opts.durable, autoDelete: this.opts.autoDelete };
      await ch.assertExchange(this.opts.exchange, 'topic', settings);
      if (this.opts.declareQueues) {
        for (const p of PRIORITIES) {
          const q = routingKey(p);
          await ch.assertQueue(q, settings);
          await ch.bindQueue(q, this.opts.exchange, q);
        }
      }
      this.conn = conn;
      this.channel = ch;
      this.reported = undefined;
      this.log.info({ broker: redactUrl(this.opts.url), exchange: this.opts.exchange }, 'AMQP notifications connected');
      return ch;
    } catch (err) {
      await conn.close().catch(() => undefined);
      const mismatch = declarationMismatch(err);
      if (!mismatch) throw err;
      // A configuration problem, not an outage: said once, loudly, until it changes.
      if (mismatch.message !== this.reported) {
        this.reported = mismatch.message;
        this.log.error({ broker: redactUrl(this.opts.url), exchange: this.opts.exchange }, mismatch.message);
      }
      throw mismatch;
    }
  }

  private async reset(): Promise<void> {
    const conn = this.conn;
    this.conn = undefined;
    this.channel = undefined;
    await conn?.close().catch(() => undefined);
  }
}
