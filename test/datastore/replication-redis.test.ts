// Redis replication on the agent side, against three real servers: a source,
// and two replicas prepared the way the controller prepares them (prepare
// with replicaOf, no backup: their first sync is Redis's own full copy). Then
// a switchover by hand with the manager's own operations (fence, catch up,
// promote, re-point, rejoin), a diverged former primary that rejoins, and the
// fence's last resorts (a server that is down, one that is frozen).
import { readFile, stat } from 'node:fs/promises';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../../controller/provisioner/processes.js';
import { withSession, type Session } from '../../managers/redis/connection.js';
import { ADMIN_SECRET, OS_USER, redisPaths } from '../../managers/redis/paths.js';
import { compareText, distanceText } from '../../managers/redis/replication-position.js';
import { copySourceUsers } from '../../managers/redis/replication.js';
import { payload } from '../../managers/sdk/operations/payload.js';
import { lookupOsUser } from '../../managers/sdk/os-user.js';
import { ReplicationStateFile } from '../../managers/sdk/replication-state.js';
import { ReplicationRole, type ReplicationStatus } from '../../managers/sdk/replication.js';
import { DatastoreStatus } from '../../managers/sdk/types.js';
import { waitFor } from '../fixtures/controller.js';
import { expectCode } from '../fixtures/datastore-assertions.js';
import { prepareRequest } from '../fixtures/datastore-suite.js';
import { createRedisInstance, redisUnavailableReason, testOp, type RedisInstance } from '../fixtures/redis-instance.js';

const reason = await redisUnavailableReason();
if (reason) console.warn(`\n*** SKIPPED: redis replication tests cannot run here: ${reason} ***\n`);

const CREDS = { user: 'steward_repl', password: 'repl-secret-0123456789' };
const APP = { name: 'app', password: 'app-pw-1234' };
const appUser = { name: APP.name, host: '', password: APP.password, access: [], permissions: 'read-write' };

/** The agent's own way in: the unix socket, as steward_admin. */
async function asAdmin<T>(inst: RedisInstance, fn: (s: Session) => Promise<T>): Promise<T> {
  const password = (await inst.ctx.secrets.get(ADMIN_SECRET))!;
  return withSession({ socket: redisPaths(inst.ctx).socket, user: 'steward_admin', password }, fn);
}

/** A client as an application connects: over TCP as a user without admin rights, no reconnecting behind our back. */
async function app(inst: RedisInstance, user = APP) {
  const c = createClient({
    socket: { host: '127.0.0.1', port: inst.port, reconnectStrategy: false, connectTimeout: 5_000 },
    username: user.name,
    password: user.password,
    disableOfflineQueue: true,
  });
  c.on('error', () => undefined); // failures surface through the rejected calls
  await c.connect();
  return c;
}

/** Runs `fn` as the application on a fresh connection. */
async function asApp<T>(inst: RedisInstance, fn: (c: Awaited<ReturnType<typeof app>>) => Promise<T>, user = APP): Promise<T> {
  const c = await app(inst, user);
  try {
    return await fn(c);
  } finally {
    if (c.isOpen) c.destroy();
  }
}

const push = (inst: RedisInstance, from: number, n: number) =>
  asApp(inst, async (c) => {
    for (let i = from; i < from + n; i++) await c.rPush('items', String(i));
  });
const items = (inst: RedisInstance) => asApp(inst, async (c) => (await c.lRange('items', 0, -1)).map(Number));
const serverPid = async (inst: RedisInstance) => (await inst.ctx.service.pid(await inst.manager.serviceSpec()))!;

describe('Redis replication positions (the rule the controller compares by)', () => {
  const [A, B, C] = ['a', 'b', 'c'].map((x) => x.repeat(40));
  it('compares offsets within one stream, and across a promotion while the histories agree', () => {
    expect(compareText(`${A}:100`, `${A}:90`)).toBe(1);
    expect(compareText(`${A}:90`, `${A}:90`)).toBe(0);
    // B was promoted at offset 100 of A: a sibling still on A up to 100 is behind or level.
    expect(compareText(`${B}:150,${A}:100`, `${A}:100`)).toBe(1);
    expect(compareText(`${A}:80`, `${B}:150,${A}:100`)).toBe(-1);
    expect(distanceText(`${B}:150,${A}:100`, `${A}:80`)).toBe(70);
    // A sibling re-pointed to B from a lower offset names B too: the same stream.
    expect(compareText(`${B}:150,${A}:100`, `${B}:140,${A}:90`)).toBe(1);
    // Promoted with nothing new, the old stream's further bytes are simply ahead of it.
    expect(compareText(`${B}:100,${A}:100`, `${A}:120`)).toBe(-1);
  });
  it('does not compare diverged or unrelated histories', () => {
    // A deposed primary wrote past the promotion point while B took writes of its own.
    expect(compareText(`${B}:150,${A}:100`, `${A}:120`)).toBeUndefined();
    expect(distanceText(`${B}:150,${A}:100`, `${A}:120`)).toBeUndefined();
    // A restarted server starts a new stream at 0.
    expect(compareText(`${C}:0`, `${A}:500`)).toBeUndefined();
    expect(compareText('garbage', `${A}:1`)).toBeUndefined();
    expect(compareText('', `${A}:1`)).toBe(-1);
  });
});

describe.skipIf(!!reason)('Redis replication (process backend)', () => {
  let src: RedisInstance;
  let r1: RedisInstance;
  let r2: RedisInstance;
  const attachTo = (source: RedisInstance, name: string, term = 1, synchronous = false) => ({
    term,
    sourceHost: '127.0.0.1',
    sourcePort: source.port,
    credentials: CREDS,
    name,
    synchronous,
  });
  const sourceReq = (term: number) => ({ term, credentials: CREDS, synchronous: false, replicas: [], failoverGuard: true });
  const status = (inst: RedisInstance): Promise<ReplicationStatus> => inst.manager.replication.status(testOp());
  const caughtUp = (replica: RedisInstance, primary: RedisInstance) =>
    waitFor(
      'the replica to have everything',
      async () => {
        const [p, r] = await Promise.all([status(primary), status(replica)]);
        return r.connected && compareText(r.position, p.position) === 0 && r;
      },
      30_000,
      50,
    );

  beforeAll(async () => {
    [src, r1, r2] = await Promise.all([createRedisInstance(), createRedisInstance(), createRedisInstance()]);
    await src.manager.prepare(prepareRequest({ users: [appUser] }), testOp());
    await push(src, 0, 100);
  });

  afterAll(async () => {
    for (const c of [src, r1, r2]) await c?.manager.close();
    await Promise.all([src?.teardown(), r1?.teardown(), r2?.teardown()]);
  });

  it('refuses synchronous replication: Redis has none', async () => {
    await expectCode(src.run(payload('configureSource', { ...sourceReq(1), synchronous: true })), 'FAILED_PRECONDITION');
    await expectCode(r1.run(payload('prepare', prepareRequest({ replicaOf: attachTo(src, 'r1', 1, true) }))), 'FAILED_PRECONDITION');
    expect(await r1.manager.isPrepared()).toBe(false);
  });

  it("refuses a replication account that is not steward_repl (it would overwrite an application's user), changing nothing", async () => {
    const hostile = { ...CREDS, user: 'app' };
    await expectCode(src.run(payload('attachReplica', { ...attachTo(r1, 'x'), credentials: hostile })), 'INVALID_ARGUMENT', 'credentials.user');
    await expectCode(src.run(payload('configureSource', { ...sourceReq(1), credentials: hostile })), 'INVALID_ARGUMENT', 'credentials.user');
    expect((await status(src)).role).toBe(ReplicationRole.STANDALONE);
    expect(await asApp(src, (c) => c.lLen('items'))).toBe(100); // the application's user is untouched
  });

  it('a source serves replicas: the replication account with exactly what replication needs, a position in its history', async () => {
    const st = await src.manager.replication.configureSource(sourceReq(1), testOp());
    expect(st.role).toBe(ReplicationRole.PRIMARY);
    expect(st.position).toMatch(/^[0-9a-f]{40}:\d+$/);
    expect(src.manager.replication.restartOnCrash()).toBe(false); // the controller fails it over instead
    expect(src.manager.replication.holdsWriteLease()).toBe(true);
    const acl = await asAdmin(src, async (s) => (await s.call('ACL', 'LIST')) as string[]);
    const repl = acl.find((l) => l.startsWith('user steward_repl '))!;
    expect(
      repl
        .split(' ')
        .filter((t) => /^[+-]/.test(t))
        .sort(),
    ).toEqual(['+ping', '+psync', '+replconf', '-@all']);
    expect(repl).not.toMatch(/~|&\*/); // no keys, no channels
    expect(repl).not.toContain(CREDS.password);
  });

  it('replicas prepared with replicaOf copy the source fully, follow it read-only, and know its users', async () => {
    await push(src, 100, 50);
    await Promise.all([
      r1.agent.prepare(prepareRequest({ replicaOf: attachTo(src, 'r1') }), testOp()),
      r2.agent.prepare(prepareRequest({ replicaOf: attachTo(src, 'r2') }), testOp()),
    ]);
    for (const r of [r1, r2]) {
      const st = await caughtUp(r, src);
      expect(st).toMatchObject({ role: ReplicationRole.REPLICA, readOnly: true, sourceHost: '127.0.0.1', error: '', fenced: false });
      expect(st.lagSeconds).toBeGreaterThanOrEqual(0);
      expect(await items(r)).toEqual([...Array(150).keys()]);
      // An application logs in to a replica with the user made on the primary, and cannot write there.
      await expect(push(r, 10_000, 1)).rejects.toThrow(/^READONLY/);
      const probe = await r.manager.probe();
      expect(probe.status).toBe(DatastoreStatus.HEALTHY);
      expect(probe.replication).toMatchObject({ role: ReplicationRole.REPLICA, connected: true });
    }
    const primary = await status(src);
    expect(primary.replicas.map((x) => x.host)).toEqual(['127.0.0.1', '127.0.0.1']);
    // The replica's config keeps it a replica across restarts; it holds the replication password, so only the server's user reads it.
    const paths = redisPaths(r1.ctx);
    const conf = (await readFile(paths.configFile, 'utf8')).split('\n');
    expect(conf).toContain(`replicaof 127.0.0.1 ${src.port}`);
    expect(conf).toContain('masteruser steward_repl');
    const info = await stat(paths.configFile);
    expect(info.mode & 0o777).toBe(0o600);
    expect(info.uid).toBe((await lookupOsUser(OS_USER)).uid);
    expect(await readFile(paths.logFile, 'utf8')).not.toContain(CREDS.password);
  });

  it('configureSource again changes nothing: the replicas stay connected, no new sync', async () => {
    const syncs = async () => asAdmin(src, async (s) => String(await s.call('INFO', 'stats')).match(/sync_(full|partial_ok):\d+/g));
    const before = await syncs();
    await src.manager.replication.configureSource(sourceReq(1), testOp());
    await push(src, 150, 1);
    for (const r of [r1, r2]) await caughtUp(r, src);
    expect(await syncs()).toEqual(before);
  });

  it('users made or dropped on the source reach the replicas (Redis does not replicate them; the replicas copy them)', async () => {
    const extra = { ...appUser, name: 'reporter', password: 'reporter-pw-1' };
    await src.manager.users.create([extra], testOp());
    const deps = (r: RedisInstance) => ({
      session: <T>(fn: (s: Session) => Promise<T>) => asAdmin(r, fn),
      state: new ReplicationStateFile(redisPaths(r.ctx).replicationFile),
      ctx: r.ctx,
    });
    const copy = (r: RedisInstance) => copySourceUsers(deps(r), new AbortController().signal);
    for (const r of [r1, r2]) {
      await copy(r);
      expect(await copy(r)).toBe(0); // nothing left to change
      expect(await asApp(r, (c) => c.lLen('items'), extra)).toBe(151);
    }
    // The managers copy by themselves every few seconds.
    await src.manager.users.delete({ name: 'reporter', host: '' }, testOp());
    for (const r of [r1, r2]) {
      await waitFor(
        `reporter gone from ${r.port}`,
        () =>
          asApp(r, (c) => c.lLen('items'), extra).then(
            () => false,
            (err: Error) => /WRONGPASS/.test(err.message),
          ),
        30_000,
        100,
      );
    }
    // The agent's own accounts are each member's own: never copied over.
    expect(await asAdmin(r1, async (s) => s.call('PING'))).toBe('PONG');
  });

  it('switchover by hand: fence, catch up, promote without a restart, re-point, rejoin; every write survives', async () => {
    await push(src, 151, 20);
    const held = await app(src); // an application connected before the fence
    const fenced = await src.manager.replication.fence(testOp());
    expect(fenced).toMatchObject({ role: ReplicationRole.PRIMARY, fenced: true, readOnly: true });
    expect(src.manager.replication.holdsWriteLease()).toBe(false);
    // Its connection was ended; a new one is refused every write, clearly and at once, scripts included.
    await expect(held.rPush('items', 'x')).rejects.toThrow();
    if (held.isOpen) held.destroy();
    await expect(push(src, 20_000, 1)).rejects.toThrow(/^NOREPLICAS/);
    await expect(asApp(src, (c) => c.eval("return redis.call('rpush', 'items', 'y')"))).rejects.toThrow(/NOREPLICAS/);
    expect(await asApp(src, (c) => c.lLen('items'))).toBe(171); // reads still served
    const at = fenced.position;
    await r1.manager.replication.waitFor(at, 10_000, testOp());
    const pidBefore = await serverPid(r1);
    const promoted = await r1.manager.replication.promote({ term: 2, source: sourceReq(2) }, testOp());
    expect(promoted).toMatchObject({ role: ReplicationRole.PRIMARY, readOnly: false, fenced: false });
    expect(await serverPid(r1)).toBe(pidBefore);
    // The new primary's position still compares with what its siblings have (its old history is kept).
    // (Level or ahead: the fenced primary still pings its replicas now and then, which counts in the stream.)
    expect(compareText(promoted.position, at)).toBeGreaterThanOrEqual(0);
    expect(compareText(promoted.position, (await status(r2)).position)).toBeDefined();
    await r2.manager.replication.attach(attachTo(r1, 'r2', 2), testOp());
    const rejoined = await src.manager.replication.rejoin({ attach: attachTo(r1, 'old', 2), promotedAt: promoted.position }, testOp());
    expect(rejoined).toMatchObject({ role: ReplicationRole.REPLICA, fenced: false });
    await push(r1, 171, 29);
    for (const r of [r2, src]) {
      await caughtUp(r, r1);
      expect(await items(r)).toEqual([...Array(200).keys()]);
    }
    await expect(push(src, 20_001, 1)).rejects.toThrow(/^READONLY/);
    expect(src.manager.replication.restartOnCrash()).toBe(true);
  });

  it('waitFor a position this replica never reaches: DEADLINE_EXCEEDED', async () => {
    const [replid] = (await status(r1)).position.split(':');
    const err = await expectCode(r2.manager.replication.waitFor(`${replid}:999999999999`, 300, testOp()), 'DEADLINE_EXCEEDED');
    expect(err.message).toMatch(/did not reach/);
    await expectCode(r2.run(payload('waitForPosition', { term: 2, position: 'not a position', timeoutMs: 100 })), 'INVALID_ARGUMENT');
  });

  it('a diverged former primary (it wrote on its own, and fell behind) rejoins and ends with exactly the new primary data', async () => {
    // src follows r1. Cut off, it takes writes of its own, as a primary isolated before a failover would.
    await asAdmin(src, async (s) => {
      await s.call('REPLICAOF', 'NO', 'ONE');
      await s.call('RPUSH', 'items', 'errant');
      await s.call('SET', 'errant-key', '1');
    });
    await push(r1, 200, 10); // and the set moved on without it
    const mine = (await status(src)).position;
    expect(compareText(mine, (await status(r1)).position)).toBeUndefined(); // neither contains the other
    await src.manager.replication.rejoin({ attach: attachTo(r1, 'old', 3), promotedAt: (await status(r1)).position }, testOp());
    await caughtUp(src, r1);
    expect(await items(src)).toEqual([...Array(210).keys()]);
    expect(await asApp(src, (c) => c.exists('errant-key'))).toBe(0);
  });

  it('fencing a primary whose server is down: it starts again fenced, and unfence lets it write', async () => {
    // r2 leaves the set as a standalone instance, then is made a primary to fence.
    await r2.manager.replication.promote({ term: 4, source: sourceReq(4) }, testOp());
    await push(r2, 500, 1);
    await r2.manager.stop(testOp());
    const fenced = await r2.manager.replication.fence(testOp());
    expect(fenced.fenced).toBe(true);
    await r2.manager.start(testOp());
    await expect(push(r2, 501, 1)).rejects.toThrow(/^NOREPLICAS/);
    expect((await status(r2)).readOnly).toBe(true);
    const unfenced = await r2.manager.replication.unfence(testOp());
    expect(unfenced).toMatchObject({ fenced: false, readOnly: false });
    await push(r2, 501, 1);
  });

  it('fencing a frozen server (SIGSTOP): it is killed, and kept down', async () => {
    const pid = await serverPid(r2);
    process.kill(pid, 'SIGSTOP');
    try {
      const st = await r2.manager.replication.fence(testOp());
      expect(st.fenced).toBe(true);
      await waitFor('the frozen server killed', async () => !isAlive(pid), 10_000, 20);
      expect((await r2.manager.probe()).status).toBe(DatastoreStatus.SHUTDOWN);
    } finally {
      if (isAlive(pid)) process.kill(pid, 'SIGCONT');
    }
  });

  it('a fence that runs out of time on a frozen server still kills it (the state says fenced: the lease no longer guards it)', async () => {
    await r2.manager.start(testOp()); // killed by the fence above: started again, still fenced
    const pid = await serverPid(r2);
    process.kill(pid, 'SIGSTOP');
    try {
      // The controller's deadline for a fence of a dead primary is short: here shorter than the fence's own wait for an answer.
      await expect(r2.manager.replication.fence(testOp(AbortSignal.timeout(300)))).rejects.toThrow();
      await waitFor('the frozen server killed', async () => !isAlive(pid), 10_000, 20);
    } finally {
      if (isAlive(pid)) process.kill(pid, 'SIGCONT');
    }
  });

  it('leaving the set (promote without a source): standalone, writable, without the replication accounts', async () => {
    await r2.manager.start(testOp()); // killed by the fences above: started again, still fenced
    await expect(push(r2, 502, 1)).rejects.toThrow(/^NOREPLICAS/);
    const st = await r2.manager.replication.promote({ term: 5, source: undefined }, testOp());
    expect(st).toMatchObject({ role: ReplicationRole.STANDALONE, fenced: false, readOnly: false });
    await push(r2, 502, 1);
    const users = await asAdmin(r2, async (s) => (await s.call('ACL', 'USERS')) as string[]);
    expect(users).not.toContain('steward_repl');
    expect(users).not.toContain('steward_usersync');
    expect(users).toContain('app');
    expect(r2.manager.replication.holdsWriteLease()).toBe(false); // no replica set, no lease
    expect(r2.manager.replication.restartOnCrash()).toBe(true);
  });
});
