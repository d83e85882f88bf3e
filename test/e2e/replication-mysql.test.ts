// MariaDB replica sets end to end: controller, local provisioner, real agents
// over mutual TLS, real MariaDB servers on their own loopback addresses.
// Replicas are built from a fresh backup of the primary and follow it by GTID;
// switchover and failover are checked by what a client that writes a numbered
// row every 10 ms had acknowledged, and by what the deposed primary still
// accepts. No mocks anywhere.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { status } from '@grpc/grpc-js';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateUsersApiRequest, InstanceTask, type Instance } from '../../proto/gen/steward/v1/api.js';
import { FailoverMode, ReplicaSetTask, ReplicationRole, type ReplicaSet } from '../../proto/gen/steward/v1/replication.js';
import type { Notification } from '../../controller/notifications/types.js';
import { call, clientsFor, startTestController, waitFor, type TestController } from '../fixtures/controller.js';
import { mysqlUnavailableReason } from '../fixtures/mysql-instance.js';
import {
  allFollowing,
  createInstance,
  failedOver,
  failOverFrozenServer,
  failOverLostMachine,
  type FailoverScene,
  failover,
  getInstance,
  getSet,
  healthy,
  lostWrites,
  promote,
  settled,
  updateSet,
  Writer,
  type WriterClient,
} from '../fixtures/replication.js';

const unavailable = await mysqlUnavailableReason();
if (unavailable) console.warn(`SKIPPING MariaDB replica set end-to-end tests: ${unavailable}`);

const PASSWORD = 'Repl-Test-Pw-51xq';
const run = promisify(execFile);

describe.skipIf(!!unavailable)('MariaDB replica sets end to end (controller + agents + real servers)', () => {
  let t: TestController;
  let primary: Instance;
  let setId: string;
  let replicas: string[];

  const app = (host: string, port: number) => mysql.createConnection({ host, port, user: 'app', password: PASSWORD, database: 'shop', connectTimeout: 2_000 });
  const runDir = (id: string) => join(t.controller.provisioner.stateDirOf(id), 'run');
  /** OS root through the server's socket (unix_socket authentication), as an operator on the machine would. */
  const asRoot = (id: string, sql: string) => run('mariadb', [`--socket=${join(runDir(id), 'mysqld.sock')}`, '-uroot', '-N', '-e', sql]);
  const serverPid = (id: string) => Number(readFileSync(join(runDir(id), 'mysqld.service.pid'), 'utf8').trim());
  const inst = (id: string) => getInstance(t, id);
  const address = async (id: string) => {
    const i = await inst(id);
    return { host: i.host, port: i.port };
  };

  async function rows(id: string): Promise<number[]> {
    const { host, port } = await address(id);
    const c = await app(host, port);
    try {
      const [r] = await c.query<RowDataPacket[]>('SELECT n FROM w');
      return r.map((x) => Number(x.n));
    } finally {
      await c.end();
    }
  }

  const writerClient = async (host: string, port: number): Promise<WriterClient> => {
    const c = await app(host, port);
    return { insert: async (n) => void (await c.query('INSERT INTO w (n) VALUES (?)', [n])), close: () => c.end() };
  };
  let nextRow = 1;
  const writer = () => new Writer(t, setId, writerClient, nextRow).start();
  const finishWriter = async (w: Writer) => {
    const report = await w.stop();
    nextRow = Math.max(nextRow, ...report.acknowledged) + 1_000;
    return report;
  };
  const notifications = (): Notification[] =>
    readFileSync(t.controller.notifications.filePath!, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Notification);

  beforeAll(async () => {
    t = await startTestController({ missedHeartbeats: 10, replication: { unresponsiveMs: 3_000, catchUpTimeoutMs: 20_000 } });
    const created = await createInstance(t, {
      name: 'shop',
      datastore: 'mysql',
      databases: [{ name: 'shop' }],
      users: [{ name: 'app', password: PASSWORD, host: '%', access: [{ database: 'shop' }] }],
    });
    primary = await healthy(t, created.instance!.id);
    const c = await app(primary.host, primary.port);
    await c.query('CREATE TABLE w (n INT PRIMARY KEY, at TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP(3))');
    await c.query('INSERT INTO w (n) VALUES (1000000), (1000001)');
    await c.end();
  }, 300_000);
  afterAll(async () => t?.close());

  it('builds two replicas from a fresh backup of the primary; they have its data and follow it', async () => {
    const res = await createInstance(t, { name: 'shop-ro', replicaOf: primary.id, replicaCount: 2 });
    expect(res.replicas.map((r) => r.name)).toEqual(['shop-ro-1', 'shop-ro-2']);
    expect(res.operation).toBeUndefined(); // prepared by the set's workflow once the seed backup exists
    setId = res.instance!.replicaSetId;
    replicas = res.replicas.map((r) => r.id);
    const set = await settled(t, setId, 300_000);
    expect(set.primaryId).toBe(primary.id);
    expect(set.term).toBe(1);
    for (const id of replicas) await healthy(t, id);
    for (const id of replicas) expect((await rows(id)).sort()).toEqual([1000000, 1000001]);

    const c = await app(primary.host, primary.port);
    await c.query('INSERT INTO w (n) VALUES (1000002)');
    await c.end();
    const following = await allFollowing(t, setId);
    expect(following.members.map((m) => m.role).sort()).toEqual([ReplicationRole.PRIMARY, ReplicationRole.REPLICA, ReplicationRole.REPLICA]);
    for (const id of replicas) await waitFor(`row on ${id}`, async () => (await rows(id)).includes(1000002), 30_000);

    // What `instance show` says: role, source, replicas and lag in GTID transactions.
    const p = await inst(primary.id);
    expect(p.role).toBe(ReplicationRole.PRIMARY);
    expect(p.replicas.sort()).toEqual([...replicas].sort());
    const r = await waitFor('lag reported', async () => {
      const x = await inst(replicas[0]);
      return x.replication?.connected && x;
    });
    expect(r.role).toBe(ReplicationRole.REPLICA);
    expect(r.replicaOf).toBe(primary.id);
    expect(r.replication?.lagUnit).toBe('transactions');
    expect(r.replication?.lag).toBeGreaterThanOrEqual(0);
    // The seed backup served its purpose and is gone.
    expect((await call<object, { backups: unknown[] }>(t.clients.backups, 'list', { instanceId: '' })).backups).toEqual([]);
    // Replicas refuse writes from applications.
    const { host, port } = await address(replicas[0]);
    const rc = await app(host, port);
    await expect(rc.query('INSERT INTO w (n) VALUES (5)')).rejects.toThrow(/read-only|READ ONLY/i);
    await rc.end();
  }, 400_000);

  it('refuses wrong and hostile requests with the right code, changing nothing', async () => {
    const before = await getSet(t, setId);
    const count = (await call<object, { instances: Instance[] }>(t.clients.instances, 'list', {})).instances.length;
    const code = (p: Promise<unknown>, c: status, re?: RegExp) =>
      expect(p).rejects.toMatchObject({ code: c, ...(re ? { details: expect.stringMatching(re) } : {}) });
    await code(createInstance(t, { name: 'x', replicaOf: primary.id, datastore: 'postgresql' }), status.FAILED_PRECONDITION, /mysql instance/);
    await code(createInstance(t, { name: 'x', replicaOf: primary.id, datastoreVersion: '11.4' }), status.FAILED_PRECONDITION, /version series/);
    await code(createInstance(t, { name: 'x', replicaOf: primary.id, replicaCount: 9 }), status.INVALID_ARGUMENT, /replica_count/);
    await code(
      createInstance(t, { name: 'x', replicaOf: primary.id, users: [{ name: 'u', password: 'p-123456', host: '%' }] }),
      status.INVALID_ARGUMENT,
      /users/,
    );
    await code(createInstance(t, { name: 'x', datastore: 'mysql', replicaCount: 2 }), status.INVALID_ARGUMENT, /replica_of/);
    for (const hostile of ["x'; DROP TABLE instances; --", '../../etc/passwd', 'ｐｒｉｍａｒｙ-😀', 'r'.repeat(10_000), primary.id.toUpperCase()]) {
      await code(createInstance(t, { name: 'x', replicaOf: hostile }), status.NOT_FOUND);
      await code(promote(t, hostile), status.NOT_FOUND);
    }
    await code(promote(t, primary.id), status.FAILED_PRECONDITION, /not a replica/);
    await code(call(t.clients.instances, 'delete', { id: primary.id, detachReplicas: false }), status.FAILED_PRECONDITION, /primary of replica set/);
    await code(
      call(
        t.clients.users,
        'create',
        CreateUsersApiRequest.fromPartial({ instanceId: replicas[0], users: [{ name: 'bob', password: 'Bob-pw-9876', host: '%' }] }),
      ),
      status.FAILED_PRECONDITION,
      /replica/,
    );
    await code(updateSet(t, { id: setId, updateMask: ['primary_id'] }), status.INVALID_ARGUMENT, /update_mask/);
    await code(updateSet(t, { id: setId, updateMask: ['max_lag'], maxLag: 0 }), status.INVALID_ARGUMENT, /max_lag/);
    await code(failover(t, "'; --"), status.NOT_FOUND);

    // Another tenant sees none of it.
    const { token } = await call<object, { token: string }>(t.clients.tokens, 'create', { tenantId: 'acme', name: 'acme', admin: false });
    const acme = clientsFor(t.controller.address, t.controller.caFile, token);
    try {
      await code(createInstance(t, { name: 'steal', replicaOf: primary.id }, acme), status.NOT_FOUND);
      await code(promote(t, replicas[0], acme), status.NOT_FOUND);
      await code(call(acme.replicaSets, 'get', { id: setId }), status.NOT_FOUND);
      await code(call(acme.replicaSets, 'failover', { id: setId, force: true }), status.NOT_FOUND);
    } finally {
      acme.close();
    }
    const after = await getSet(t, setId);
    expect({ primary: after.primaryId, term: after.term, task: after.task, members: after.members.length }).toEqual({
      primary: before.primaryId,
      term: before.term,
      task: ReplicaSetTask.NONE,
      members: 3,
    });
    expect((await call<object, { instances: Instance[] }>(t.clients.instances, 'list', {})).instances.length).toBe(count);
  });

  it('switches over while a client writes every 10 ms: every acknowledged write is on the new primary, the old one follows it', async () => {
    const w = writer();
    await waitFor('writes flowing', async () => w.count > 20);
    const candidate = replicas[0];
    await promote(t, candidate);
    const set = await settled(t, setId);
    await new Promise((r) => setTimeout(r, 300));
    const report = await finishWriter(w);
    expect(set.primaryId).toBe(candidate);
    expect(set.term).toBe(2);
    expect(lostWrites(report.acknowledged, await rows(candidate))).toEqual([]);
    console.log(`MariaDB switchover: ${report.acknowledged.length} writes acknowledged, longest gap ${report.longestGapMs} ms`);

    const old = await inst(primary.id);
    expect(old.role).toBe(ReplicationRole.REPLICA);
    expect(old.replicaOf).toBe(candidate);
    expect(old.task).toBe(InstanceTask.NONE);
    const oc = await app(old.host, old.port);
    await expect(oc.query('INSERT INTO w (n) VALUES (7)')).rejects.toThrow(/read-only|READ ONLY/i);
    await oc.end();
    await allFollowing(t, setId);
    const events = notifications().filter((n) => n.event_type.startsWith('instance.promote.'));
    expect(events.map((e) => e.event_type)).toEqual(['instance.promote.start', 'instance.promote.end']);
    expect(events[1].payload).toMatchObject({ instance_id: candidate, replica_set_id: setId, old_primary_id: primary.id, new_primary_id: candidate, term: 2 });
  }, 120_000);

  it('switches back, and a controller restarted in the middle of a switchover finishes it', async () => {
    await promote(t, primary.id);
    await waitFor('the switchover under way', async () => (await getSet(t, setId)).task === ReplicaSetTask.SWITCHING_OVER, 10_000, 5);
    await t.restart();
    const set = await settled(t, setId);
    expect(set.primaryId).toBe(primary.id);
    expect(set.term).toBe(3);
    await allFollowing(t, setId);
  }, 120_000);

  it('refuses a switchover to a lagging replica before anything changes', async () => {
    const behind = replicas[1];
    await updateSet(t, { id: setId, updateMask: ['max_lag'], maxLag: 2 });
    await asRoot(behind, 'STOP SLAVE SQL_THREAD');
    try {
      const c = await app(primary.host, primary.port);
      for (let n = 0; n < 5; n++) await c.query('INSERT INTO w (n) VALUES (?)', [2_000_000 + n]);
      await c.end();
      const before = await getSet(t, setId);
      await expect(promote(t, behind)).rejects.toMatchObject({ code: status.FAILED_PRECONDITION, details: expect.stringMatching(/lags 5 transactions/) });
      const after = await getSet(t, setId);
      expect({ primary: after.primaryId, term: after.term, task: after.task }).toEqual({
        primary: before.primaryId,
        term: before.term,
        task: ReplicaSetTask.NONE,
      });
      expect((await inst(behind)).task).toBe(InstanceTask.NONE);
    } finally {
      await asRoot(behind, 'START SLAVE SQL_THREAD');
      await updateSet(t, { id: setId, updateMask: ['max_lag'], maxLag: 1000 });
    }
  });

  /** The former primary comes back as a replica of the new one (rewound or re-cloned), and the set is whole again. */
  async function rejoined(oldId: string, newId: string): Promise<ReplicaSet> {
    const set = await allFollowing(t, setId);
    const old = await healthy(t, oldId);
    expect(old.role).toBe(ReplicationRole.REPLICA);
    expect(old.replicaOf).toBe(newId);
    const oc = await app(old.host, old.port);
    await expect(oc.query('INSERT INTO w (n) VALUES (8)')).rejects.toThrow(/read-only|READ ONLY/i);
    await oc.end();
    return set;
  }

  it("fails over within seconds after kill -9 of the primary's server (its agent alive); the old primary rejoins", async () => {
    const before = await getSet(t, setId);
    const oldId = before.primaryId;
    const w = writer();
    await waitFor('writes flowing', async () => w.count > 20);
    const killedAt = Date.now();
    process.kill(serverPid(oldId), 'SIGKILL');
    const set = await failedOver(t, setId, oldId);
    const tookMs = Date.now() - killedAt;
    const at = w.count;
    await waitFor('writes resumed on the new primary', async () => w.count > at + 10, 30_000);
    const report = await finishWriter(w);
    expect(set.term).toBe(before.term + 1);
    expect(replicas.concat(primary.id)).toContain(set.primaryId);
    const lost = lostWrites(report.acknowledged, await rows(set.primaryId));
    console.log(
      `MariaDB failover (server kill -9): new primary after ${tookMs} ms, longest write gap ${report.longestGapMs} ms, ${lost.length} acknowledged writes lost (asynchronous)`,
    );
    expect(report.acknowledged.length).toBeGreaterThan(0);
    const events = notifications().filter((n) => n.event_type.startsWith('instance.failover.'));
    expect(events.slice(-2).map((e) => e.event_type)).toEqual(['instance.failover.start', 'instance.failover.end']);
    expect(events.at(-1)!.payload).toMatchObject({ old_primary_id: oldId, new_primary_id: set.primaryId, term: set.term });
    await rejoined(oldId, set.primaryId);
  }, 400_000);

  it('chooses the most advanced replica: one held back is never promoted', async () => {
    const before = await allFollowing(t, setId);
    const oldId = before.primaryId;
    const [behind, ahead] = before.members.filter((m) => m.instanceId !== oldId).map((m) => m.instanceId);
    await asRoot(behind, 'STOP SLAVE IO_THREAD');
    const { host, port } = await address(oldId);
    const c = await app(host, port);
    for (let n = 0; n < 20; n++) await c.query('INSERT INTO w (n) VALUES (?)', [3_000_000 + n]);
    await c.end();
    await waitFor('the ahead replica has the rows', async () => (await rows(ahead)).includes(3_000_019), 30_000);
    process.kill(serverPid(oldId), 'SIGKILL');
    const set = await failedOver(t, setId, oldId);
    expect(set.primaryId).toBe(ahead);
    expect(await rows(ahead)).toContain(3_000_019);
    // The held-back replica follows the new primary and gets everything.
    await waitFor('the held-back replica caught up', async () => (await rows(behind)).includes(3_000_019), 60_000);
    await rejoined(oldId, ahead);
  }, 400_000);

  const scene = (): FailoverScene => ({ t, setId, label: 'MariaDB', serverPid, rejoined });

  it("fails over after SIGSTOP of the primary's server: the frozen server is killed (fenced) and takes no write when it would wake", async () => {
    await failOverFrozenServer(scene());
  }, 400_000);

  it("fails over after kill -9 of the primary's agent and server together, once the write lease has run out", async () => {
    await failOverLostMachine(scene());
  }, 400_000);

  it('with synchronous replication no acknowledged write is lost over repeated kill -9 failovers', async () => {
    await updateSet(t, { id: setId, updateMask: ['synchronous'], synchronous: true });
    for (let round = 1; round <= 3; round++) {
      const before = await allFollowing(t, setId);
      const oldId = before.primaryId;
      const w = writer();
      await waitFor('writes flowing', async () => w.count > 30);
      process.kill(serverPid(oldId), 'SIGKILL');
      const set = await failedOver(t, setId, oldId);
      await new Promise((r) => setTimeout(r, 500));
      const report = await finishWriter(w);
      expect(lostWrites(report.acknowledged, await rows(set.primaryId)), `round ${round}`).toEqual([]);
      await rejoined(oldId, set.primaryId);
    }
    expect((await getSet(t, setId)).synchronous).toBe(true);
  }, 900_000);

  it('manual failover mode leaves a dead primary alone and says so; a forced failover then promotes', async () => {
    await updateSet(t, { id: setId, updateMask: ['failover', 'synchronous'], failover: FailoverMode.MANUAL, synchronous: false });
    const before = await allFollowing(t, setId);
    const oldId = before.primaryId;
    process.kill(serverPid(oldId), 'SIGKILL');
    const waiting = await waitFor('the set to say the primary failed', async () => {
      const s = await getSet(t, setId);
      return /automatic failover is off/.test(s.statusMessage) && s;
    });
    expect(waiting.primaryId).toBe(oldId);
    await failover(t, setId);
    const set = await failedOver(t, setId, oldId);
    await rejoined(oldId, set.primaryId);
    await updateSet(t, { id: setId, updateMask: ['failover'], failover: FailoverMode.AUTOMATIC });
  }, 400_000);

  it('builds a replica of a replica (cascading): it follows its source, which stays a replica', async () => {
    const set = await allFollowing(t, setId);
    const source = set.members.find((m) => m.instanceId !== set.primaryId)!.instanceId;
    const res = await createInstance(t, { name: 'shop-cascade', replicaOf: source, replicaCount: 1 });
    const id = res.replicas[0].id;
    await settled(t, setId, 300_000);
    await healthy(t, id);
    const { host, port } = await address(set.primaryId);
    const c = await app(host, port);
    await c.query('INSERT INTO w (n) VALUES (8000000)');
    await c.end();
    await waitFor('the row on the cascaded replica', async () => (await rows(id)).includes(8000000), 30_000).catch(async (err) => {
      const status = await asRoot(id, 'SHOW SLAVE STATUS\\G').catch((e) => e);
      throw new Error(`${err.message}; ${JSON.stringify((await inst(id)).replication)}; ${status.stdout ?? status}`);
    });
    const cascaded = await inst(id);
    expect(cascaded.role).toBe(ReplicationRole.REPLICA);
    expect(cascaded.replicaOf).toBe(source);
    const middle = await inst(source);
    expect(middle.role).toBe(ReplicationRole.REPLICA);
    // Serving a replica made no transaction of its own there (no errant GTID): it still follows the primary.
    expect(middle.replication?.error).toBe('');
    expect((await asRoot(source, 'SELECT @@gtid_binlog_pos')).stdout).not.toContain(`-${(await asRoot(source, 'SELECT @@server_id')).stdout.trim()}-`);
    expect(middle.replicas).toContain(id);
    await call(t.clients.instances, 'delete', { id, detachReplicas: false });
    await waitFor('the cascaded replica gone from its set', async () => (await getSet(t, setId)).members.length === set.members.length);
  }, 400_000);

  it('deletes a replica (it leaves the set) and a primary only with detach_replicas', async () => {
    const set = await allFollowing(t, setId);
    const [r1, r2] = set.members.filter((m) => m.instanceId !== set.primaryId).map((m) => m.instanceId);
    await call(t.clients.instances, 'delete', { id: r1, detachReplicas: false });
    await waitFor('the replica gone from its set', async () => (await getSet(t, setId)).members.length === 2);
    await call(t.clients.instances, 'delete', { id: set.primaryId, detachReplicas: true });
    const left = await waitFor('the last replica standalone', async () => {
      const i = await inst(r2);
      return i.role === ReplicationRole.STANDALONE && i;
    });
    expect(left.replicaSetId).toBe('');
    const { host, port } = await address(r2);
    const c = await app(host, port);
    await c.query('INSERT INTO w (n) VALUES (9000000)'); // writable on its own now
    await c.end();
  }, 120_000);
});
