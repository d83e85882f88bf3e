// `stewardctl events watch`: follows the controller's notifications (the same
// events as its JSON-lines file and AMQP feed) over Events.Watch, resuming from
// the last cursor when the connection drops, so nothing is skipped or shown
// twice. Not registered yet: stewardctl.ts needs `eventsCommand(program)`.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { credentials, Metadata, status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { EventsClient, WatchRequest, type EventEnvelope } from '../../proto/gen/steward/v1/events.js';
import type { Settings } from '../client.js';
import { EXIT_INTERRUPTED, fromServiceError, UsageError } from '../errors.js';
import type { Output } from '../output.js';
import { action, collect, positiveInt } from './common.js';

/** Response metadata of Events.Watch: the cursor the stream starts after. */
const CURSOR_METADATA = 'steward-cursor';
const RETRY_MS = 1_000;

interface WatchOpts {
  type?: string[];
  resource?: string[];
  kind?: string[];
  since?: string;
  limit?: number;
}

export function eventsClient(s: Settings): { client: EventsClient; metadata: Metadata } {
  const creds = s.insecure ? credentials.createInsecure() : credentials.createSsl(s.caFile ? readFileSync(s.caFile) : null);
  const metadata = new Metadata();
  // Never over plain text: anyone on the path could replay it against a real controller.
  if (s.token && !s.insecure) metadata.set('authorization', `Bearer ${s.token}`);
  return { client: new EventsClient(s.address, creds), metadata };
}

/** One line per event: when, what, about which resource, and the state or the error. */
export function eventLine(e: EventEnvelope): string {
  const payload = JSON.parse(e.payloadJson) as Record<string, unknown>;
  const detail = payload.exception ?? payload.state ?? payload.status ?? '';
  const names = [payload.users, payload.databases].flatMap((list) => (Array.isArray(list) ? list.map((x: { name: string }) => x.name) : []));
  return [e.cursor, e.timestamp, e.eventType.padEnd(24), `${e.resourceKind}/${e.resourceId}`, names.join(','), String(detail)].filter(Boolean).join('  ');
}

export function eventJson(e: EventEnvelope): Record<string, unknown> {
  return {
    cursor: e.cursor,
    message_id: e.messageId,
    event_type: e.eventType,
    priority: e.priority,
    publisher_id: e.publisherId,
    timestamp: e.timestamp,
    resource_kind: e.resourceKind,
    resource_id: e.resourceId,
    payload: JSON.parse(e.payloadJson) as unknown,
  };
}

function print(out: Output, e: EventEnvelope): void {
  if (out.json) process.stdout.write(`${JSON.stringify(eventJson(e))}\n`);
  else out.line(eventLine(e));
}

export function eventsCommand(parent: Command): Command {
  const cmd = parent
    .command('events')
    .summary('Follow usage and lifecycle notifications')
    .description(
      'The events the controller raises (instance.create.start, user.delete.end, ...), as its notification file and AMQP feed carry them. ' +
        'docs/notifications.md lists every type and payload.',
    );

  cmd
    .command('watch')
    .summary('Stream events as they happen')
    .description(
      'Stream events as they happen, one per line (with --json: one JSON object per line). Runs until Ctrl-C or --limit. ' +
        'A dropped connection is resumed from the last cursor: no event is skipped or shown twice.',
    )
    .option('--type <TYPE>', 'an event type, or a prefix ending in "*" such as "instance.*" (repeatable)', collect)
    .option('--resource <ID>', 'a resource id (repeatable); user, database and root events belong to their instance', collect)
    .option('--kind <KIND>', 'a resource kind: instance, user, database, root, backup, cluster, ... (repeatable)', collect)
    .option('--since <CURSOR>', 'start after this cursor (the first column); "0" = every event the controller still keeps')
    .option('--limit <N>', 'stop after N events', positiveInt)
    .addHelpText(
      'after',
      '\nExamples:\n  stewardctl events watch --type "instance.*"\n  stewardctl events watch --resource $ID --json | jq .payload.state\n  stewardctl events watch --since 0 --limit 100',
    )
    .action(
      action<WatchOpts>(async (ctx, _args, opts) => {
        if (opts.since !== undefined && !/^\d{1,15}$/.test(opts.since)) throw new UsageError(`--since "${opts.since}": expected a cursor (a number) or 0`);
        const { client, metadata } = eventsClient(ctx.api.settings);
        let cursor = opts.since ?? '';
        let seen = 0;
        let current: ClientReadableStream<EventEnvelope> | undefined;
        let interrupted = false;
        const onSigint = () => {
          interrupted = true;
          current?.cancel();
        };
        process.once('SIGINT', onSigint);
        try {
          for (;;) {
            const outcome = await new Promise<ServiceError | undefined>((resolve) => {
              const stream = client.watch(
                WatchRequest.fromPartial({ cursor, eventTypes: opts.type ?? [], resourceIds: opts.resource ?? [], resourceKinds: opts.kind ?? [] }),
                metadata.clone(),
              );
              current = stream;
              stream.on('metadata', (md: Metadata) => {
                const start = md.get(CURSOR_METADATA)[0];
                if (cursor === '' && start !== undefined) cursor = String(start);
              });
              stream.on('data', (e: EventEnvelope) => {
                cursor = e.cursor;
                print(ctx.out, e);
                if (opts.limit && ++seen >= opts.limit) stream.cancel();
              });
              stream.on('error', (err: ServiceError) => resolve(err));
              stream.on('end', () => resolve(undefined));
            });
            if (interrupted) {
              process.exitCode = EXIT_INTERRUPTED;
              return;
            }
            if (opts.limit && seen >= opts.limit) return;
            if (!outcome || outcome.code !== status.UNAVAILABLE) {
              if (!outcome || outcome.code === status.CANCELLED) return;
              const connected = client.getChannel().getConnectivityState(false) === 2; // READY
              throw fromServiceError(outcome, ctx.api.settings, connected);
            }
            ctx.out.note(`stewardctl: connection lost (${outcome.details}); resuming after cursor ${cursor || '(start)'}`);
            await new Promise((r) => setTimeout(r, RETRY_MS));
          }
        } finally {
          process.removeListener('SIGINT', onSigint);
          client.close();
        }
      }),
    );

  return cmd;
}
