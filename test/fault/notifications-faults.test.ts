// Delivery faults with real parts: a controller process killed with SIGKILL
// between state changes and their delivery, and RabbitMQ stopped for a while.
// Asserted as a billing consumer needs it: after deduplicating on message_id,
// every event the outbox holds arrives exactly once, each resource's events in
// the order they were raised.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { call, clientsFor, NOOP_MANAGER, startTestController, tempDir, waitFor, type Clients, type TestController } from '../fixtures/controller.js';
import { freePort } from '../fixtures/mysql-instance.js';
import { consumeNotifications, rabbitmqUnavailableReason, startRabbitMq, type NotificationConsumer, type RabbitMq } from '../fixtures/rabbitmq.js';
import { CreateInstanceRequest, type CreateInstanceResponse, type Instance } from '../../proto/gen/steward/v1/api.js';
import { OperationState, type Operation } from '../../proto/gen/steward/v1/common.js';
import { pidsMentioning, terminate } from '../../controller/provisioner/processes.js';
import { notificationErrors } from '../../controller/notifications/schema.js';
import type { Notification } from '../../controller/notifications/types.js';
import { codeOfNumber } from '../../managers/sdk/errors.js';

const noRabbit = rabbitmqUnavailableReason();
if (noRabbit) console.warn(`SKIPPING notification fault tests: ${noRabbit}`);
const CONTROLLER_MAIN = fileURLToPath(new URL('../../controller/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

interface OutboxRow {
  seq: number;
  message_id: string;
  order_key: string;
  event_type: string;
}

/** Each resource's events, in the order given, as message ids. */
function perResource(events: Array<{ message_id: string; order_key: string }>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const e of events) (out[e.order_key] ??= []).push(e.message_id);
  return out;
}

const orderKeyOf = (n: Notification) => `instance:${String(n.payload.instance_id)}`;

function dedupe(list: Notification[]): Notification[] {
  const seen = new Set<string>();
  return list.filter((n) => !seen.has(n.message_id) && !!seen.add(n.message_id));
}

function readFileSink(path: string): Notification[] {
  return existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Notification)
    : [];
}

/** Exactly once after deduplication, nothing missing, per-resource order kept, every event valid. */
function expectDelivered(outbox: OutboxRow[], raw: Notification[]): void {
  const unique = dedupe(raw);
  expect(unique.map((n) => n.message_id).sort()).toEqual(outbox.map((r) => r.message_id).sort());
  expect(perResource(unique.map((n) => ({ message_id: n.message_id, order_key: orderKeyOf(n) })))).toEqual(perResource(outbox));
  for (const n of unique) expect(notificationErrors(n)).toEqual([]);
}

describe.skipIf(!!noRabbit)('notification delivery faults (real RabbitMQ)', () => {
  let rabbit: RabbitMq;
  beforeAll(async () => {
    rabbit = await startRabbitMq();
  });
  afterAll(async () => rabbit?.close());

  describe('a controller process killed with SIGKILL', () => {
    const EXCHANGE = 'steward-fault-kill';
    let dir: string;
    let consumer: NotificationConsumer;
    let proc: ChildProcess | undefined;
    let clients: Clients | undefined;
    let ports: { api: number; agents: number };
    const killOnExit = () => proc?.kill('SIGKILL');

    beforeAll(async () => {
      dir = tempDir('steward-notif-kill-');
      ports = { api: await freePort(), agents: await freePort() };
      consumer = await consumeNotifications(rabbit.url, EXCHANGE);
      process.once('exit', killOnExit);
    });
    afterAll(async () => {
      if (running() && clients) {
        for (const i of (await call<object, { instances: Instance[] }>(clients.instances, 'list', {}).catch(() => ({ instances: [] }))).instances) {
          await call(clients.instances, 'delete', { id: i.id }).catch(() => undefined);
        }
        await waitFor(
          'instances deleted',
          async () => (await call<object, { instances: Instance[] }>(clients!.instances, 'list', {})).instances.length === 0,
          60_000,
        ).catch(() => undefined);
      }
      clients?.close();
      await stopController('SIGTERM');
      await terminate(pidsMentioning(dir), 10_000); // agents left by a failed test
      process.removeListener('exit', killOnExit);
      await consumer?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    /** Runs controller/main.ts in its own process, as systemd would; `dispatch` off = it only writes the outbox. */
    async function startController(dispatch: boolean): Promise<void> {
      const configPath = join(dir, 'controller.yaml');
      writeFileSync(
        configPath,
        stringify({
          listen: `127.0.0.1:${ports.api}`,
          agentListen: `127.0.0.1:${ports.agents}`,
          dataDir: join(dir, 'data'),
          logLevel: 'warn',
          extraManagers: [NOOP_MANAGER],
          // Long enough that agents reconnect to the restarted process before it would call them lost.
          provisioner: { heartbeatIntervalMs: 5_000 },
          notifications: {
            publisherId: 'steward.controller.fault',
            amqp: { enabled: true, url: rabbit.url, exchange: EXCHANGE, durable: true },
            dispatch: { enabled: dispatch, pollMs: 200, retryInitialMs: 100, retryMaxMs: 1_000 },
          },
        }),
      );
      const child = spawn(process.execPath, ['--import', TSX, CONTROLLER_MAIN, '--config', configPath], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, STEWARD_NOOP_PREPARE_MS: '0' },
      });
      proc = child;
      let output = '';
      child.stdout!.on('data', (d) => (output += String(d)));
      child.stderr!.on('data', (d) => (output += String(d)));
      await waitFor(
        'controller listening',
        async () => {
          if (child.exitCode !== null) throw new Error(`controller exited: ${output}`);
          return output.includes('steward-controller: API');
        },
        60_000,
        50,
      );
      clients?.close();
      const data = join(dir, 'data');
      clients = clientsFor(`127.0.0.1:${ports.api}`, join(data, 'pki', 'ca.pem'), readFileSync(join(data, 'admin.token'), 'utf8').trim());
    }

    const running = () => !!proc && proc.exitCode === null && proc.signalCode === null;

    async function stopController(signal: NodeJS.Signals): Promise<void> {
      const p = proc;
      if (!p || !running()) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill(signal);
      await exited;
    }

    /** The store as a dead controller left it. */
    function inspectStore(): { outbox: OutboxRow[]; cursors: Record<string, number> } {
      const db = new Database(join(dir, 'data', 'steward.db'), { readonly: true });
      try {
        const outbox = db.prepare('SELECT seq, message_id, order_key, event_type FROM notification_outbox ORDER BY seq').all() as OutboxRow[];
        const cursors = Object.fromEntries(
          (db.prepare('SELECT name, seq FROM notification_cursors').all() as Array<{ name: string; seq: number }>).map((r) => [r.name, r.seq]),
        );
        return { outbox, cursors };
      } finally {
        db.close();
      }
    }

    const create = async (name: string) => {
      const res = await call<object, CreateInstanceResponse>(
        clients!.instances,
        'create',
        CreateInstanceRequest.fromPartial({ name, datastore: 'noop-fixture' }),
      );
      const op = await call<object, Operation>(clients!.operations, 'wait', { id: res.operation!.id, timeoutMs: 60_000 });
      expect(op.state).toBe(OperationState.SUCCEEDED);
      return res.instance!.id;
    };
    const connected = (id: string) => waitFor('agent connected', async () => (await call<object, Instance>(clients!.instances, 'get', { id })).agentConnected);
    const fileSink = () => join(dir, 'data', 'notifications.jsonl');

    it('events committed but not yet delivered when it died are delivered after the restart, once each after deduplication', async () => {
      await startController(false); // state changes reach the outbox; nothing is delivered yet
      const a = await create('kill-a');
      const b = await create('kill-b');
      await connected(a);
      await connected(b);
      const reboot = await call<object, Operation>(clients!.instances, 'restart', { id: a });
      await call(clients!.operations, 'wait', { id: reboot.id, timeoutMs: 30_000 });
      await stopController('SIGKILL');

      const dead = inspectStore();
      expect(dead.outbox.map((r) => r.event_type)).toEqual([
        'instance.create.start',
        'instance.create.end',
        'instance.create.start',
        'instance.create.end',
        'instance.reboot.start',
        'instance.reboot.end',
      ]);
      expect(readFileSink(fileSink())).toEqual([]);
      expect(consumer.received).toEqual([]);

      await startController(true);
      await consumer.waitFor('every event after the restart', (u) => u.length >= dead.outbox.length);
      expectDelivered(
        dead.outbox,
        consumer.received.map((r) => r.notification),
      );
      await waitFor('the file sink caught up', async () => dedupe(readFileSink(fileSink())).length >= dead.outbox.length);
      expectDelivered(dead.outbox, readFileSink(fileSink()));
    });

    it('killed again and again in the middle of a stream of changes: nothing lost, nothing seen twice after deduplication', async () => {
      const ids = (await call<object, { instances: Instance[] }>(clients!.instances, 'list', {})).instances.map((i) => i.id);
      let killedWithBacklog = 0;
      for (let round = 0; round < 3; round++) {
        for (const id of ids) await connected(id);
        // Reboots on every instance at once; the kill lands right after a state change committed.
        const ops = await Promise.all(ids.map((id) => call<object, Operation>(clients!.instances, 'restart', { id })));
        expect(ops).toHaveLength(ids.length);
        await stopController('SIGKILL');
        const dead = inspectStore();
        const head = dead.outbox[dead.outbox.length - 1].seq;
        if ((dead.cursors.amqp ?? 0) < head || (dead.cursors.file ?? 0) < head) killedWithBacklog++;
        await startController(true);
        // Every reboot reaches a definite outcome in the new process (its .end or .error is an event too).
        for (const op of ops) {
          const done = await call<object, Operation>(clients!.operations, 'wait', { id: op.id, timeoutMs: 60_000 });
          expect([OperationState.SUCCEEDED, OperationState.FAILED]).toContain(done.state);
          if (done.state === OperationState.FAILED)
            console.info(`reboot failed across the kill: ${codeOfNumber(done.error?.code ?? 0)}: ${done.error?.message}`);
        }
      }
      // At least one kill hit the window between a committed change and its delivery.
      expect(killedWithBacklog).toBeGreaterThan(0);
      const { outbox } = inspectStore();
      await consumer.waitFor('every event over AMQP', (u) => u.length >= outbox.length);
      console.info(
        `kills that left undelivered events: ${killedWithBacklog}/3; AMQP messages received twice: ${consumer.received.length - consumer.unique().length}`,
      );
      expectDelivered(
        outbox,
        consumer.received.map((r) => r.notification),
      );
      await waitFor('the file sink caught up', async () => dedupe(readFileSink(fileSink())).length >= outbox.length);
      expectDelivered(outbox, readFileSink(fileSink()));
      const reboots = outbox.filter((r) => r.event_type.startsWith('instance.reboot.'));
      // One reboot in the first test, then one per instance per round.
      expect(reboots.filter((r) => r.event_type.endsWith('.start'))).toHaveLength(1 + 3 * ids.length);
      expect(reboots.filter((r) => !r.event_type.endsWith('.start'))).toHaveLength(1 + 3 * ids.length);
    });
  });

  describe('RabbitMQ stopped for a while', () => {
    const EXCHANGE = 'steward-fault-outage';
    let consumer: NotificationConsumer;
    let t: TestController;

    beforeAll(async () => {
      // A broker that came back after the previous describe's tests is what this one starts from.
      consumer = await consumeNotifications(rabbit.url, EXCHANGE);
      process.env.STEWARD_NOOP_PREPARE_MS = '0';
      t = await startTestController({
        notifications: {
          amqp: { enabled: true, url: rabbit.url, exchange: EXCHANGE, durable: true, confirmTimeoutMs: 2_000, connectTimeoutMs: 1_000 },
          dispatch: { pollMs: 200, retryInitialMs: 100, retryMaxMs: 1_000 },
        },
      });
    });
    afterAll(async () => {
      await t?.close();
      await consumer?.close();
    });

    const outbox = () => t.controller.store.selectFrom('notification_outbox').select(['seq', 'message_id', 'order_key', 'event_type']).orderBy('seq').execute();
    const create = async (name: string) => {
      const res = await call<object, CreateInstanceResponse>(
        t.clients.instances,
        'create',
        CreateInstanceRequest.fromPartial({ name, datastore: 'noop-fixture' }),
      );
      const op = await call<object, Operation>(t.clients.operations, 'wait', { id: res.operation!.id, timeoutMs: 60_000 });
      expect(op.state).toBe(OperationState.SUCCEEDED);
      await waitFor('agent connected', async () => (await call<object, Instance>(t.clients.instances, 'get', { id: res.instance!.id })).agentConnected);
      return res.instance!.id;
    };
    const reboot = async (id: string) => {
      const op = await call<object, Operation>(t.clients.instances, 'restart', { id });
      expect((await call<object, Operation>(t.clients.operations, 'wait', { id: op.id, timeoutMs: 30_000 })).state).toBe(OperationState.SUCCEEDED);
    };

    it('events wait in the outbox while the broker is down, the controller keeps serving, and they arrive in order when it is back', async () => {
      const a = await create('outage-a');
      await consumer.waitFor('the first events', (u) => u.length >= 2);
      const dispatcher = t.controller.notifications.dispatcher!;
      await waitFor('their confirms', async () => (await dispatcher.backlog('amqp')) === 0);
      await rabbit.stop();

      const started = Date.now();
      const b = await create('outage-b');
      for (let i = 0; i < 3; i++) {
        await reboot(a);
        await reboot(b);
      }
      await call(t.clients.instances, 'delete', { id: b });
      await waitFor('b deleted', async () => (await outbox()).some((r) => r.event_type === 'instance.delete.end'));
      // Serving went on at its usual pace: no call waited for the broker.
      expect(Date.now() - started).toBeLessThan(30_000);

      const rows = await outbox();
      // The file sink is independent of the broker: it has everything already.
      await waitFor('file caught up', async () => (await dispatcher.backlog('file')) === 0);
      expect(await dispatcher.backlog('amqp')).toBe(rows.length - 2);
      await new Promise((r) => setTimeout(r, 2_000)); // a few failed retries, with backoff
      const tried = await t.controller.store.selectFrom('notification_deliveries').selectAll().where('sink', '=', 'amqp').execute();
      expect(tried.length).toBeGreaterThan(0);
      expect(tried.every((d) => d.delivered_at === null && d.attempts >= 1 && !!d.last_error)).toBe(true);
      expect(consumer.unique()).toHaveLength(2);

      await rabbit.start();
      await consumer.waitFor('everything after the outage', (u) => u.length >= rows.length, 90_000);
      expectDelivered(
        rows,
        consumer.received.map((r) => r.notification),
      );
      // The consumer can see a message before its confirm is back at the controller: the backlog follows the confirms.
      await waitFor('AMQP backlog empty', async () => (await dispatcher.backlog('amqp')) === 0);
      await reboot(a); // and life goes on
      await consumer.waitFor('a fresh event', (u) => u.length >= rows.length + 2);
    });
  });
});
