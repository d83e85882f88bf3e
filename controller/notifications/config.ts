// The `notifications` section of the controller config. Every key has a
// default, so a config without the section gets the JSON-lines file sink and
// the Watch stream, and no AMQP (it needs a broker to point at).
import { hostname } from 'node:os';
import { z } from 'zod';

const fileSink = z
  .object({
    enabled: z.boolean().default(true),
    /** Defaults to <dataDir>/notifications.jsonl. */
    path: z.string().min(1).optional(),
  })
  .strict();

const amqpSink = z
  .object({
    enabled: z.boolean().default(false),
    /** amqp://user:password@host:port/vhost (the password is never logged). */
    url: z
      .string()
      .regex(/^amqps?:\/\//, 'an amqp:// or amqps:// URL')
      .default('amqp://guest:guest@127.0.0.1:5672/'),
    /**
     * Topic exchange the events are published on (oslo.messaging's
     * control_exchange): by default `trove`, the exchange Trove's own services
     * publish on and Ceilometer listens to.
     */
    exchange: z.string().min(1).max(255).default('trove'),
    /**
     * Declare the exchange and queues durable. Must equal the consumers'
     * oslo.messaging `[oslo_messaging_rabbit] amqp_durable_queues` (default
     * false, as here): RabbitMQ refuses a second declaration that differs.
     */
    durable: z.boolean().default(false),
    /** Declare them auto-delete: oslo.messaging's `amqp_auto_delete` (default false). */
    autoDelete: z.boolean().default(false),
    /**
     * Declare the queues `notifications.info` / `notifications.error` bound
     * to their routing keys, as oslo.messaging's notifier does, so that events
     * published before any consumer exists are kept rather than dropped.
     */
    declareQueues: z.boolean().default(true),
    /** How long to wait for the broker's publisher confirms before counting a batch as failed. */
    confirmTimeoutMs: z.number().int().min(100).max(300_000).default(10_000),
    connectTimeoutMs: z.number().int().min(100).max(300_000).default(5_000),
  })
  .strict();

export const notificationsConfigSchema = z
  .object({
    /** Who the events say published them; default "steward.controller.<hostname>". */
    publisherId: z.string().min(1).max(255).optional(),
    /** Trove's `region` and `availability_zone` usage fields. */
    region: z.string().min(1).max(255).default('local'),
    availabilityZone: z.string().min(1).max(255).nullable().default(null),
    /** Trove's `service_id` per datastore name; the datastore name when absent. */
    serviceIds: z.record(z.string(), z.string().min(1)).default({}),
    file: fileSink.prefault({}),
    amqp: amqpSink.prefault({}),
    watch: z
      .object({ enabled: z.boolean().default(true) })
      .strict()
      .prefault({}),
    dispatch: z
      .object({
        /**
         * Deliver from this controller. Off: events are still written to the
         * outbox (and served by Watch) but left for a controller that dispatches.
         */
        enabled: z.boolean().default(true),
        batchSize: z.number().int().min(1).max(10_000).default(500),
        /** Re-read the outbox this often even without a local wake-up (other replicas, due retries). */
        pollMs: z.number().int().min(10).max(60_000).default(1_000),
        retryInitialMs: z.number().int().min(10).max(600_000).default(500),
        retryMaxMs: z.number().int().min(10).max(3_600_000).default(60_000),
      })
      .strict()
      .prefault({}),
    /** Delivered events older than this are pruned from the outbox (Watch cannot resume before them). */
    retentionHours: z
      .number()
      .min(0.001)
      .max(24 * 3650)
      .default(7 * 24),
  })
  .strict()
  .prefault({});

export type NotificationsConfig = z.infer<typeof notificationsConfigSchema>;

export function publisherIdOf(config: NotificationsConfig): string {
  return config.publisherId ?? `steward.controller.${hostname()}`;
}
