// Redis replica sets end to end: controller, local provisioner, real agents
// over mutual TLS, real redis-server processes on their own loopback
// addresses. Replicas need no seed backup: their first sync is Redis's own
// full copy. Switchover and failover are checked by what a client that pushes
// a numbered value every 10 ms (RPUSH, as the application's ACL user) had
// acknowledged, and by what the deposed primary still accepts. Redis
// replication is asynchronous: a kill -9 failover may lose the last
// acknowledged writes, and the test prints how many. No mocks anywhere.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateUsersApiRequest, InstanceTask, type Instance } from '../../proto/gen/steward/v1/api.js';
import { FailoverMode, ReplicaSetTask, ReplicationRole, type ReplicaSet } from '../../proto/gen/steward/v1/replication.js';
import type { Notification } from '../../controller/notifications/types.js';
import { withSession, type Session } from '../../managers/redis/connection.js';
import { call, clientsFor, startTestController, waitFor, type TestController } from '../fixtures/controller.js';
import { redisAppClient, redisUnavailableReason } from '../fixtures/redis-instance.js';
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

const unavailable = await redisUnavailableReason();
if (unavailable) console.warn(`SKIPPING Redis replica set end-to-end tests: ${unavailable}`);

const PASSWORD = 'Repl-Test-Pw-51xq';
/** A read-only replica refuses an application's write. */
const READONLY = /^READONLY/;

describe.skipIf(!!unavailable)('Redis replica sets end to end (controller + agents + real servers)', () => {
  let t: TestController;
  let primary: Instance;
  let setId: string;
  let replicas: string[];

  const stateDir = (id: string) => t.controller.provisioner.stateDirOf(id);
  const serverPid = (id: string) => Number(readFileSync(join(stateDir(id), 'run', 'redis-server.service.pid'), 'utf8').trim());
  const secret = (id: string, name: string) => readFileSync(join(stateDir(id), 'secrets', name), 'utf8').trim();
  /** The agent's account through the server's socket, as an operator on the machine would. */
  const asAdmin = <T>(id: string, fn: (s: Session) => Promise<T>) =>
    withSession({ socket: join(stateDir(id), 'run', 'redis.sock'), user: 'steward_admin', password: secret(id, 'redis-admin') }, fn);
  const inst = (id: string) => getInstance(t, id);
  const address = async (id: string) => {
    const i = await inst(id);
    return { host: i.host, port: i.port };
  };

  /** The application's own connection: its ACL user over TCP. */
  const app = (host: string, port: number) => redisAppClient(host, port, PASSWORD);

  async function rows(id: string): Promise<number[]> {
    const { host, port } = await address(id);
    const c = await app(host, port);
    try {
      return (await c.lRange('w', 0, -1)).map(Number);
    } finally {
      c.destroy();
    }
  }

  async function pushTo(id: string, values: number[]): Promise<void> {
    const { host, port } = await address(id);
    const c = await app(host, port);
    try {
      for (const n of values) await c.rPush('w', String(n));
    } finally {
      c.destroy();
    }
  }

  /** An application write to `id` is refused as a replica's (READONLY). */
  async function refusesWrites(id: string): Promise<void> {
    await expect(pushTo(id, [7])).rejects.toThrow(READONLY);
  }

  /**
   * Holds a replica back: its link to the source is cut and it cannot log in
   * again (a wrong masterauth), as a replica on the far side of a network
   * fault. `release` gives it the real password back; it then continues.
   */
  const holdBack = (id: string) =>
    asAdmin(id, async (s) => {
      await s.call('CONFIG', 'SET', 'masterauth', 'not-the-replication-password');
      await s.call('CLIENT', 'KILL', 'TYPE', 'master');
    });
  const release = (id: string) =>
    asAdmin(id, (s) => s.call('CONFIG', 'SET', 'masterauth', (JSON.parse(secret(id, 'redis-replication')) as { password: string }).password));

  const writerClient = async (host: string, port: number): Promise<WriterClient> => {
    const c = await app(host, port);
    return {
      insert: async (n) => void (await c.rPush('w', String(n))),
      close: async () => c.destroy(),
    };
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
      name: 'cache',
      datastore: 'redis',
      users: [{ name: 'app', password: PASSWORD, host: '', access: [], permissions: 'read-write' }],
    });
    primary = await healthy(t, created.instance!.id);
    await pushTo(primary.id, [1000000, 1000001]);
  }, 300_000);
  afterAll(async () => t?.close());

  it('builds two replicas without a backup; they have the data and the users of the primary and follow it', async () => {
    const res = await createInstance(t, { name: 'cache-ro', replicaOf: primary.id, replicaCount: 2 });
    expect(res.replicas.map((r) => r.name)).toEqual(['cache-ro-1', 'cache-ro-2']);
    expect(res.operation).toBeUndefined(); // prepared by the set's workflow once the source serves replicas
    setId = res.instance!.replicaSetId;
    replicas = res.replicas.map((r) => r.id);
    const set = await settled(t, setId, 300_000);
    expect(set.primaryId).toBe(primary.id);
    expect(set.term).toBe(1);
    expect(set.maxLag).toBe(1024 * 1024); // the Redis default, in bytes
    for (const id of replicas) await healthy(t, id);
    // The application's user logs in to each replica (Redis does not replicate users: the replicas copied it).
    for (const id of replicas) expect(await rows(id)).toEqual([1000000, 1000001]);

    await pushTo(primary.id, [1000002]);
    const following = await allFollowing(t, setId);
    expect(following.members.map((m) => m.role).sort()).toEqual([ReplicationRole.PRIMARY, ReplicationRole.REPLICA, ReplicationRole.REPLICA]);
    for (const id of replicas) await waitFor(`value on ${id}`, async () => (await rows(id)).includes(1000002), 30_000);

    // What `instance show` says: role, source, replicas and lag in bytes of the replication stream.
    const p = await inst(primary.id);
    expect(p.role).toBe(ReplicationRole.PRIMARY);
    expect(p.replicas.sort()).toEqual([...replicas].sort());
    const r = await waitFor('lag reported', async () => {
      const x = await inst(replicas[0]);
      return x.replication?.connected && x;
    });
    expect(r.role).toBe(ReplicationRole.REPLICA);
    expect(r.replicaOf).toBe(primary.id);
    expect(r.replication?.lagUnit).toBe('bytes');
    expect(r.replication?.lag).toBeGreaterThanOrEqual(0);
    expect(r.replication?.position).toMatch(/^[0-9a-f]{40}:\d+$/);
    // No seed backup was made.
    expect((await call<object, { backups: unknown[] }>(t.clients.backups, 'list', { instanceId: '' })).backups).toEqual([]);
    await refusesWrites(replicas[0]);
  }, 400_000);

  it('refuses wrong and hostile requests with the right code, changing nothing', async () => {
    const before = await getSet(t, setId);
    const count = (await call<object, { instances: Instance[] }>(t.clients.instances, 'list', {})).instances.length;
    const code = (p: Promise<unknown>, c: status, re?: RegExp) =>
      expect(p).rejects.toMatchObject({ code: c, ...(re ? { details: expect.stringMatching(re) } : {}) });
    await code(createInstance(t, { name: 'x', replicaOf: primary.id, datastore: 'mysql' }), status.FAILED_PRECONDITION, /redis instance/);
    await code(createInstance(t, { name: 'x', replicaOf: primary.id, datastoreVersion: '6.2' }), status.FAILED_PRECONDITION, /version series/);
    await code(createInstance(t, { name: 'x', replicaOf: primary.id, replicaCount: 9 }), status.INVALID_ARGUMENT, /replica_count/);
    // Redis has no synchronous replication: asked for, it is refused rather than silently asynchronous.
    await code(createInstance(t, { name: 'x', replicaOf: primary.id, synchronous: true }), status.FAILED_PRECONDITION, /synchronous/);
    await code(updateSet(t, { id: setId, updateMask: ['synchronous'], synchronous: true }), status.FAILED_PRECONDITION, /synchronous/);
    await code(
      createInstance(t, { name: 'x', replicaOf: primary.id, users: [{ name: 'u', password: 'p-12345678', host: '' }] }),
      status.INVALID_ARGUMENT,
      /users/,
    );
    await code(createInstance(t, { name: 'x', datastore: 'redis', replicaCount: 2 }), status.INVALID_ARGUMENT, /replica_of/);
    for (const hostile of ["x'; FLUSHALL; --", '../../etc/passwd', 'ｐｒｉｍａｒｙ-😀', 'r'.repeat(10_000), primary.id.toUpperCase()]) {
      await code(createInstance(t, { name: 'x', replicaOf: hostile }), status.NOT_FOUND);
      await code(promote(t, hostile), status.NOT_FOUND);
    }
    await code(promote(t, primary.id), status.FAILED_PRECONDITION, /not a replica/);
    await code(call(t.clients.instances, 'delete', { id: primary.id, detachReplicas: false }), status.FAILED_PRECONDITION, /primary of replica set/);
    await code(
      call(
        t.clients.users,
        'create',
        CreateUsersApiRequest.fromPartial({ instanceId: replicas[0], users: [{ name: 'bob', password: 'Bob-pw-9876', host: '' }] }),
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
    expect({ primary: after.primaryId, term: after.term, task: after.task, members: after.members.length, synchronous: after.synchronous }).toEqual({
      primary: before.primaryId,
      term: before.term,
      task: ReplicaSetTask.NONE,
      members: 3,
      synchronous: false,
    });
    expect((await call<object, { instances: Instance[] }>(t.clients.instances, 'list', {})).instances.length).toBe(count);
  });

  it('switches over while a client writes every 10 ms: every acknowledged write is on the new primary, the old one follows it', async () => {
    const w = writer();
    await waitFor('writes flowing', async () => w.count > 20);
    const candidate = replicas[0];
    await promote(t, candidate);
    const set = await settled(t, setId);
    const at = w.count;
    await waitFor('writes on the new primary', async () => w.count > at + 10, 30_000);
    const report = await finishWriter(w);
    expect(set.primaryId).toBe(candidate);
    expect(set.term).toBe(2);
    expect(lostWrites(report.acknowledged, await rows(candidate))).toEqual([]);
    console.log(`Redis switchover: ${report.acknowledged.length} writes acknowledged, longest gap ${report.longestGapMs} ms, none lost`);

    const old = await inst(primary.id);
    expect(old.role).toBe(ReplicationRole.REPLICA);
    expect(old.replicaOf).toBe(candidate);
    expect(old.task).toBe(InstanceTask.NONE);
    await refusesWrites(primary.id);
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
    await updateSet(t, { id: setId, updateMask: ['max_lag'], maxLag: 64 });
    await holdBack(behind);
    try {
      // Each push is a few dozen bytes of the replication stream.
      await pushTo(primary.id, [2_000_000, 2_000_001, 2_000_002, 2_000_003, 2_000_004]);
      const before = await getSet(t, setId);
      await expect(promote(t, behind)).rejects.toMatchObject({ code: status.FAILED_PRECONDITION, details: expect.stringMatching(/lags \d+ bytes/) });
      const after = await getSet(t, setId);
      expect({ primary: after.primaryId, term: after.term, task: after.task }).toEqual({
        primary: before.primaryId,
        term: before.term,
        task: ReplicaSetTask.NONE,
      });
      expect((await inst(behind)).task).toBe(InstanceTask.NONE);
    } finally {
      await release(behind);
      await updateSet(t, { id: setId, updateMask: ['max_lag'], maxLag: 1024 * 1024 });
    }
    await waitFor('the held-back replica caught up', async () => (await rows(behind)).includes(2_000_004), 30_000);
  });

  /** The former primary comes back as a replica of the new one, and the set is whole again. */
  async function rejoined(oldId: string, newId: string): Promise<ReplicaSet> {
    const set = await allFollowing(t, setId);
    const old = await healthy(t, oldId);
    expect(old.role).toBe(ReplicationRole.REPLICA);
    expect(old.replicaOf).toBe(newId);
    await refusesWrites(oldId);
    // It has exactly the new primary's data (Redis resynchronised it, throwing away what it alone had).
    await waitFor('the former primary has the new primary data', async () => JSON.stringify(await rows(oldId)) === JSON.stringify(await rows(newId)), 30_000);
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
      `Redis failover (server kill -9): new primary after ${tookMs} ms, longest write gap ${report.longestGapMs} ms, ${lost.length} of ${report.acknowledged.length} acknowledged writes lost (asynchronous replication)`,
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
    await holdBack(behind);
    const values = Array.from({ length: 20 }, (_, n) => 3_000_000 + n);
    await pushTo(oldId, values);
    await waitFor('the ahead replica has the values', async () => (await rows(ahead)).includes(3_000_019), 30_000);
    expect(await rows(behind)).not.toContain(3_000_019);
    process.kill(serverPid(oldId), 'SIGKILL');
    const set = await failedOver(t, setId, oldId);
    expect(set.primaryId).toBe(ahead);
    expect(await rows(ahead)).toContain(3_000_019);
    // The held-back replica is re-pointed at the new primary (with the real password again) and gets everything.
    await waitFor('the held-back replica caught up', async () => (await rows(behind)).includes(3_000_019), 60_000);
    await rejoined(oldId, ahead);
  }, 400_000);

  const scene = (): FailoverScene => ({ t, setId, label: 'Redis', serverPid, rejoined });

  it("fails over after SIGSTOP of the primary's server: the frozen server is killed (fenced) and takes no write when it would wake", async () => {
    await failOverFrozenServer(scene());
  }, 400_000);

  it("fails over after kill -9 of the primary's agent and server together, once the write lease has run out", async () => {
    await failOverLostMachine(scene());
  }, 400_000);

  it('manual failover mode leaves a dead primary alone and says so; a requested failover then promotes', async () => {
    await updateSet(t, { id: setId, updateMask: ['failover'], failover: FailoverMode.MANUAL });
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
    await pushTo(r2, [9_000_000]); // writable on its own now, by the application's user it copied
    expect(await rows(r2)).toContain(9_000_000);
  }, 120_000);
});
