// Assembles the notifications module from the config: the notifier workflow
// code raises events through, the dispatcher with its sinks, and the Watch
// service. server.ts wires it; nothing else needs to know the parts.
import { join } from 'node:path';
import type { Metadata } from '@grpc/grpc-js';
import type { Logger } from '../../managers/sdk/logger.js';
import type { Store } from '../store/open.js';
import type { Caller } from '../tokens.js';
import { publisherIdOf, type NotificationsConfig } from './config.js';
import { Dispatcher, registerSinks } from './dispatcher.js';
import { Notifier } from './notifier.js';
import { startPruning } from './prune.js';
import { AmqpSink, redactUrl } from './sinks/amqp.js';
import { FileSink } from './sinks/file.js';
import type { Sink } from './sinks/sink.js';
import { WatchService } from './watch.js';

export interface Notifications {
  notifier: Notifier;
  /** Absent when this controller does not dispatch (or no sink is enabled). */
  dispatcher?: Dispatcher;
  /** Absent when the Watch stream is turned off. */
  watch?: WatchService;
  /** Where the JSON-lines file sink writes, if enabled. */
  filePath?: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface NotificationsDeps {
  store: Store;
  dataDir: string;
  caller(metadata: Metadata): Promise<Caller>;
  log: Logger;
}

export function createNotifications(config: NotificationsConfig, deps: NotificationsDeps): Notifications {
  const log = deps.log.child({ component: 'notifications' });
  const notifier = new Notifier({
    publisherId: publisherIdOf(config),
    payload: { region: config.region, availabilityZone: config.availabilityZone, serviceIds: config.serviceIds },
  });
  const sinks: Sink[] = [];
  const filePath = config.file.enabled ? (config.file.path ?? join(deps.dataDir, 'notifications.jsonl')) : undefined;
  if (filePath) sinks.push(new FileSink(filePath));
  if (config.amqp.enabled) sinks.push(new AmqpSink(config.amqp, log));
  const d = config.dispatch;
  const dispatcher =
    d.enabled && sinks.length > 0
      ? new Dispatcher(deps.store, sinks, { batchSize: d.batchSize, pollMs: d.pollMs, retry: { initialMs: d.retryInitialMs, maxMs: d.retryMaxMs } }, log)
      : undefined;
  const watch = config.watch.enabled ? new WatchService({ store: deps.store, notifier, caller: deps.caller, log, pollMs: d.pollMs }) : undefined;
  let unsubscribe: (() => void) | undefined;
  let stopPruning: (() => void) | undefined;
  return {
    notifier,
    dispatcher,
    watch,
    filePath,
    async start() {
      await registerSinks(
        deps.store,
        sinks.map((s) => s.name),
      );
      if (dispatcher) {
        unsubscribe = notifier.onCommitted((events) => dispatcher.committed(events));
        await dispatcher.start();
      }
      // Housekeeping belongs to the controller that dispatches (one, when several share a store).
      if (d.enabled)
        stopPruning = startPruning(
          deps.store,
          sinks.map((s) => s.name),
          config.retentionHours * 3600_000,
          log,
        );
      log.info(
        {
          publisherId: notifier.publisherId,
          file: filePath,
          amqp: config.amqp.enabled ? `${redactUrl(config.amqp.url)} exchange ${config.amqp.exchange}` : undefined,
          dispatching: !!dispatcher,
          watch: !!watch,
        },
        'notifications ready',
      );
    },
    async stop() {
      watch?.close();
      stopPruning?.();
      unsubscribe?.();
      await dispatcher?.stop();
    },
  };
}
