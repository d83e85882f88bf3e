// PostgreSQL replica sets end to end: controller, local provisioner, real
// agents over mutual TLS, real PostgreSQL 15 servers on their own loopback
// addresses. Replicas are built from a fresh pg_basebackup of the primary and
// stream from it through a slot each; switchover and failover are checked by
// what a client that writes a numbered row every 10 ms had acknowledged, and
// by what the deposed primary still accepts. No mocks anywhere.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateUsersApiRequest, InstanceTask, type Instance } from '../../proto/gen/steward/v1/api.js';
import { FailoverMode, ReplicaSetTask, ReplicationRole, type ReplicaSet } from '../../proto/gen/steward/v1/replication.js';
import type { Notification } from '../../controller/notifications/types.js';
import { call, clientsFor, startTestController, waitFor, type TestController } from '../fixtures/controller.js';
import { postgresqlUnavailableReason } from '../fixtures/postgresql-instance.js';
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

const unavailable = await postgresqlUnavailableReason();
if (unavailable) console.warn(`SKIPPING PostgreSQL replica set end-to-end tests: ${unavailable}`);

const PASSWORD = 'Repl-Test-Pw-51xq';
/** The strategy's default max_lag: one WAL segment. */
const DEFAULT_MAX_LAG = 16 * 1024 * 1024;

describe.skipIf(!!unavailable)('PostgreSQL replica sets end to end (controller + agents + real servers)', () => {
  let t: TestController;
  let primary: Instance;
  let setId: string;
  let replicas: string[];

  const connect = async (host: string, port: number, user: string, password?: string, database = 'shop'): Promise<pg.Client> => {
    const c = new pg.Client({ host, port, user, password, database, connectionTimeoutMillis: 2_000 });
    c.on('error', () => undefined);
    await c.connect();
    return c;
  };
  const app = (host: string, port: number) => connect(host, port, 'app', PASSWORD);
  const runDir = (id: string) => join(t.controller.provisioner.stateDirOf(id), 'run');
  const serverPid = (id: string) => Number(readFileSync(join(runDir(id), 'postgresql.service.pid'), 'utf8').trim());
  const inst = (id: string) => getInstance(t, id);
  const address = async (id: string) => {
    const i = await inst(id);
    return { host: i.host, port: i.port };
  };
  /** OS root through the server's socket, recognised as the agent's admin role (peer), as an operator on the machine would. */
  async function asRoot(id: string, ...statements: string[]): Promise<void> {
    const c = await connect(runDir(id), (await inst(id)).port, 'steward_admin', undefined, 'postgres');
    try {
      for (const s of statements) await c.query(s);
    } finally {
      await c.end();
    }
  }

  async function rows(id: string): Promise<number[]> {
    const { host, port } = await address(id);
    const c = await app(host, port);
    try {
      return (await c.query('SELECT n FROM w')).rows.map((x) => Number(x.n));
    } finally {
      await c.end();
    }
  }

  const writerClient = async (host: string, port: number): Promise<WriterClient> => {
    const c = await app(host, port);
    return { insert: async (n) => void (await c.query('INSERT INTO w (n) VALUES ($1)', [n])), close: () => c.end() };
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
  const readOnlyRefusal = /read-only transaction/;

  beforeAll(async () => {
    t = await startTestController({ missedHeartbeats: 10, replication: { unresponsiveMs: 3_000, catchUpTimeoutMs: 20_000 } });
    const created = await createInstance(t, {
      name: 'shop',
      datastore: 'postgresql',
      databases: [{ name: 'shop' }],
      users: [{ name: 'app', password: PASSWORD, host: '', access: [{ database: 'shop' }] }],
    });
    primary = await healthy(t, created.instance!.id);
    const c = await app(primary.host, primary.port);
    await c.query('CREATE TABLE w (n int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())');
    await c.query('INSERT INTO w (n) VALUES (1000000), (1000001)');
    await c.end();
  }, 300_000);
  afterAll(async () => t?.close());

  it('builds two replicas from a fresh backup of the primary; they have its data and stream from it', async () => {
    const res = await createInstance(t, { name: 'shop-ro', replicaOf: primary.id, replicaCount: 2 });
    expect(res.replicas.map((r) => r.name)).toEqual(['shop-ro-1', 'shop-ro-2']);
    expect(res.operation).toBeUndefined(); // prepared by the set's workflow once the seed backup exists
    setId = res.instance!.replicaSetId;
    replicas = res.replicas.map((r) => r.id);
    const set = await settled(t, setId, 300_000);
    expect(set.primaryId).toBe(primary.id);
    expect(set.term).toBe(1);
    expect(set.maxLag).toBe(DEFAULT_MAX_LAG);
    for (const id of replicas) await healthy(t, id);
    for (const id of replicas) expect((await rows(id)).sort()).toEqual([1000000, 1000001]);

    const c = await app(primary.host, primary.port);
    await c.query('INSERT INTO w (n) VALUES (1000002)');
    await c.end();
    const following = await allFollowing(t, setId);
    expect(following.members.map((m) => m.role).sort()).toEqual([ReplicationRole.PRIMARY, ReplicationRole.REPLICA, ReplicationRole.REPLICA]);
    for (const id of replicas) await waitFor(`row on ${id}`, async () => (await rows(id)).includes(1000002), 30_000);

    // What `instance show` says: role, source, replicas and lag in bytes of WAL.
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
    expect(r.replication?.position).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    // The seed backup served its purpose and is gone.
    expect((await call<object, { backups: unknown[] }>(t.clients.backups, 'list', { instanceId: '' })).backups).toEqual([]);
    // Replicas refuse writes from applications.
    const { host, port } = await address(replicas[0]);
    const rc = await app(host, port);
    await expect(rc.query('INSERT INTO w (n) VALUES (5)')).rejects.toThrow(readOnlyRefusal);
    await rc.end();
  }, 400_000);

  it('refuses wrong and hostile requests with the right code, changing nothing', async () => {
    const before = await getSet(t, setId);
    const count = (await call<object, { instances: Instance[] }>(t.clients.instances, 'list', {})).instances.length;
    const code = (p: Promise<unknown>, c: status, re?: RegExp) =>
      expect(p).rejects.toMatchObject({ code: c, ...(re ? { details: expect.stringMatching(re) } : {}) });
    await code(createInstance(t, { name: 'x', replicaOf: primary.id, datastore: 'mysql' }), status.FAILED_PRECONDITION, /postgresql instance/);
    await code(createInstance(t, { name: 'x', replicaOf: primary.id, datastoreVersion: '16' }), status.FAILED_PRECONDITION, /version series/);
    await code(createInstance(t, { name: 'x', replicaOf: primary.id, replicaCount: 9 }), status.INVALID_ARGUMENT, /replica_count/);
    await code(
      createInstance(t, { name: 'x', replicaOf: primary.id, users: [{ name: 'u', password: 'p-123456', host: '' }] }),
      status.INVALID_ARGUMENT,
      /users/,
    );
    await code(createInstance(t, { name: 'x', datastore: 'postgresql', replicaCount: 2 }), status.INVALID_ARGUMENT, /replica_of/);
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
        CreateUsersApiRequest.fromPartial({ instanceId: replicas[0], users: [{ name: 'bob', password: 'Bob-pw-9876', host: '' }] }),
      ),
      status.FAILED_PRECONDITION,
      /replica/,
    );
    await code(updateSet(t, { id: setId, updateMask: ['primary_id'] }), status.INVALID_ARGUMENT, /update_mask/);
    await code(updateSet(t, { id: setId, updateMask: ['max_lag'], maxLag: 0 }), status.INVALID_ARGUMENT, /max_lag/);
    await code(failover(t, "'; --"), status.NOT_FOUND);
    // The replication account is the agent's: no user may take its name.
    await code(
      call(
        t.clients.users,
        'create',
        CreateUsersApiRequest.fromPartial({ instanceId: primary.id, users: [{ name: 'steward_repl', password: 'Bob-pw-9876', host: '' }] }),
      ),
      status.INVALID_ARGUMENT,
      /reserved/,
    );

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

  it('switches over while a client writes every 10 ms: every acknowledged write is on the new primary, the old one is rewound and follows it', async () => {
    const w = writer();
    await waitFor('writes flowing', async () => w.count > 20);
    const candidate = replicas[0];
    const pidBefore = serverPid(candidate);
    await promote(t, candidate);
    const set = await settled(t, setId);
    const at = w.count;
    await waitFor('writes acknowledged by the new primary', async () => w.count > at + 10, 30_000);
    const report = await finishWriter(w);
    expect(set.primaryId).toBe(candidate);
    expect(set.term).toBe(2);
    expect(lostWrites(report.acknowledged, await rows(candidate))).toEqual([]);
    expect(serverPid(candidate)).toBe(pidBefore); // promoted without a restart
    console.log(`PostgreSQL switchover: ${report.acknowledged.length} writes acknowledged, longest gap ${report.longestGapMs} ms`);

    const old = await inst(primary.id);
    expect(old.role).toBe(ReplicationRole.REPLICA);
    expect(old.replicaOf).toBe(candidate);
    expect(old.task).toBe(InstanceTask.NONE);
    const oc = await app(old.host, old.port);
    await expect(oc.query('INSERT INTO w (n) VALUES (7)')).rejects.toThrow(readOnlyRefusal);
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
    await asRoot(behind, 'SELECT pg_wal_replay_pause()');
    try {
      const c = await app(primary.host, primary.port);
      for (let n = 0; n < 5; n++) await c.query('INSERT INTO w (n) VALUES ($1)', [2_000_000 + n]);
      await c.end();
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
      await asRoot(behind, 'SELECT pg_wal_replay_resume()');
      await updateSet(t, { id: setId, updateMask: ['max_lag'], maxLag: DEFAULT_MAX_LAG });
    }
  });

  /** The former primary comes back as a replica of the new one (rewound or re-cloned), and the set is whole again. */
  async function rejoined(oldId: string, newId: string): Promise<ReplicaSet> {
    const set = await allFollowing(t, setId);
    const old = await healthy(t, oldId);
    expect(old.role).toBe(ReplicationRole.REPLICA);
    expect(old.replicaOf).toBe(newId);
    const oc = await app(old.host, old.port);
    await expect(oc.query('INSERT INTO w (n) VALUES (8)')).rejects.toThrow(readOnlyRefusal);
    await oc.end();
    return set;
  }

  it("fails over within seconds after kill -9 of the primary's server (its agent alive); the old primary is rewound and rejoins", async () => {
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
      `PostgreSQL failover (server kill -9): new primary after ${tookMs} ms, longest write gap ${report.longestGapMs} ms, ${lost.length} acknowledged writes lost (asynchronous)`,
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
    // Its WAL receiver stops (an operator's override of the source); the re-point after the failover takes it back.
    await asRoot(behind, "ALTER SYSTEM SET primary_conninfo = ''", 'SELECT pg_reload_conf()');
    await waitFor('the held-back replica stopped streaming', async () => !(await getSet(t, setId)).members.find((m) => m.instanceId === behind)?.connected);
    const { host, port } = await address(oldId);
    const c = await app(host, port);
    for (let n = 0; n < 20; n++) await c.query('INSERT INTO w (n) VALUES ($1)', [3_000_000 + n]);
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

  const scene = (): FailoverScene => ({ t, setId, label: 'PostgreSQL', serverPid, rejoined });

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
      const at = w.count;
      await waitFor('writes acknowledged by the new primary', async () => w.count > at + 10, 60_000);
      const report = await finishWriter(w);
      expect(lostWrites(report.acknowledged, await rows(set.primaryId)), `round ${round}`).toEqual([]);
      console.log(
        `PostgreSQL synchronous failover round ${round}: ${report.acknowledged.length} writes acknowledged, 0 lost, longest gap ${report.longestGapMs} ms`,
      );
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
    // The deletions run on in the controller: the suite ends once they are done.
    await waitFor('the deleted instances gone', async () => {
      const ids = (await call<object, { instances: Instance[] }>(t.clients.instances, 'list', {})).instances.map((i) => i.id);
      return !ids.includes(r1) && !ids.includes(set.primaryId);
    });
  }, 120_000);
});
