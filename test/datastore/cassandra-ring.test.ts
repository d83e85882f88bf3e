// The cassandra manager's cluster member operations on a real ring, without
// the controller: three nodes on 127.0.0.1-3 (the first is the seed), secured
// once through one member, data at RF 3 and QUORUM, a fourth node that
// bootstraps in and is decommissioned again. Sequencing here stands in for
// the orchestration; every call is one the agent makes on its own node.
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, policies, types } from 'cassandra-driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asStewardError } from '../../managers/sdk/errors.js';
import { generatePassword } from '../../managers/sdk/secrets.js';
import { DatastoreStatus, type PrepareRequest } from '../../managers/sdk/types.js';
import { cassandraUnavailableReason, createCassandraNode, freePort, testOp, type CassandraNode } from '../fixtures/cassandra-instance.js';
import { serverProcesses } from '../fixtures/datastore-lifecycle.js';

const ADDRESSES = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'];
const SEED = ADDRESSES[0];
const ROWS = 200;

async function until<T>(_what: string, fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > deadline) return v; // the caller's expectation reports a miss
    await sleep(500);
  }
}

const reason = await cassandraUnavailableReason();

if (reason) {
  describe('cassandra ring: grow and shrink (process backend)', () => {
    it('needs Java 17 and the Cassandra jars', (t) => {
      console.warn(`\n*** SKIPPED: cassandra ring tests cannot run here: ${reason} ***\n`);
      t.skip(reason);
    });
  });
} else {
  describe('cassandra ring: grow and shrink (process backend)', () => {
    const nodes: CassandraNode[] = [];
    const clients: Client[] = [];
    const admin = { user: 'steward_admin', password: generatePassword() };
    const appRole = { user: 'ringapp', password: 'ring-app-pw' };
    let port = 0;
    let storagePort = 0;

    const membership = (autoBootstrap: boolean): PrepareRequest['cluster'] => ({
      clusterId: 'ring-1',
      clusterName: 'steward ring test',
      seeds: [SEED],
      autoBootstrap,
      dataCenter: 'dc1',
      rack: 'rack1',
      adminUser: admin.user,
      adminPassword: admin.password,
      secureCluster: false,
    });
    const prepareReq = (autoBootstrap: boolean): PrepareRequest => ({
      memoryMb: 0,
      port: 0,
      bindAddress: '',
      databases: [],
      users: [],
      cluster: membership(autoBootstrap),
      restore: undefined,
      replicaOf: undefined,
      configuration: {},
    });

    async function addNode(i: number, autoBootstrap: boolean): Promise<CassandraNode> {
      const node = await createCassandraNode({ address: ADDRESSES[i], port, storagePort, name: `ring${i + 1}` });
      nodes[i] = node;
      await node.manager.prepare(prepareReq(autoBootstrap), testOp());
      return node;
    }

    /** A client that talks to one node only (as coordinator), as `who`. */
    async function clientOf(address: string, who: { user: string; password: string }): Promise<Client> {
      const endpoint = `${address}:${port}`;
      const c = new Client({
        contactPoints: [endpoint],
        localDataCenter: 'dc1',
        credentials: { username: who.user, password: who.password },
        policies: { loadBalancing: new policies.loadBalancing.AllowListPolicy(new policies.loadBalancing.RoundRobinPolicy(), [endpoint]) },
        queryOptions: { consistency: types.consistencies.quorum },
        isMetadataSyncEnabled: false,
      });
      await c.connect();
      clients.push(c);
      return c;
    }

    async function peersOf(address: string): Promise<string[]> {
      const c = await clientOf(address, admin);
      try {
        const rows = (await c.execute('SELECT peer FROM system.peers')).rows;
        return rows.map((r) => String(r.peer)).sort();
      } finally {
        await c.shutdown();
      }
    }

    async function canLogIn(address: string, who: { user: string; password: string }): Promise<boolean> {
      const c = new Client({
        contactPoints: [`${address}:${port}`],
        localDataCenter: 'dc1',
        credentials: { username: who.user, password: who.password },
        isMetadataSyncEnabled: false,
      });
      try {
        await c.connect();
        return true;
      } catch {
        return false;
      } finally {
        await c.shutdown();
      }
    }

    async function readAll(address: string): Promise<number> {
      const c = await clientOf(address, appRole);
      const rs = await c.execute('SELECT id FROM ringks.items', [], { consistency: types.consistencies.quorum, fetchSize: 1000 });
      return rs.rowLength;
    }

    beforeAll(async () => {
      // One CQL and one internode port for the whole ring, free on every address.
      port = await freePort(SEED);
      storagePort = await freePort(SEED);
      // One at a time, as the orchestration must: token allocation for a new
      // member is computed from the ring it sees, so two members starting
      // together can pick the same tokens and one of them silently ends up
      // owning none.
      for (const i of [0, 1, 2]) await addNode(i, false);
    });

    afterAll(async () => {
      for (const c of clients) await c.shutdown().catch(() => undefined);
      await Promise.all(nodes.filter(Boolean).map((n) => n.teardown()));
    });

    it('three initial members form one ring, secured once through one member', async () => {
      const op = testOp();
      // Before securing, every member still has the well-known default superuser.
      expect(await canLogIn(ADDRESSES[1], { user: 'cassandra', password: 'cassandra' })).toBe(true);
      await nodes[0].manager.cluster.secureCluster(3, op);
      expect(op.steps.at(-1)).toEqual({ percent: 100, message: 'secured' });

      for (const address of ADDRESSES.slice(0, 3)) {
        expect(await canLogIn(address, admin), `admin on ${address}`).toBe(true);
        expect(await canLogIn(address, { user: 'cassandra', password: 'cassandra' }), `default superuser on ${address}`).toBe(false);
      }
      // Logins no longer depend on one node: system_auth has a replica on each.
      const c = await clientOf(SEED, admin);
      const [auth] = (await c.execute("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = 'system_auth'")).rows;
      expect(auth.replication).toMatchObject({ class: 'org.apache.cassandra.locator.NetworkTopologyStrategy', dc1: '3' });

      const ring = await until(
        'every member normal in the ring view',
        () => nodes[1].manager.cluster.ringView(testOp()),
        (r) => r.members.filter((m) => m.status === 'up' && m.state === 'normal').length === 3,
      );
      expect(ring.members.map((m) => [m.address, m.status, m.state, m.tokens])).toEqual(ADDRESSES.slice(0, 3).map((a) => [a, 'up', 'normal', 16]));
      for (const [i, node] of nodes.entries()) {
        const info = await node.manager.cluster.memberInfo(testOp());
        expect(info).toMatchObject({ address: ADDRESSES[i], dataCenter: 'dc1', rack: 'rack1' });
        expect(ring.members.find((m) => m.address === ADDRESSES[i])?.hostId).toBe(info.hostId);
        const probe = await node.manager.probe();
        expect(probe.status).toBe(DatastoreStatus.HEALTHY);
        expect(probe.facts).toMatchObject({ cluster_name: 'steward ring test', ring_members: '3', ring_normal: '3', node_state: 'normal' });
      }
    });

    it('rows written at QUORUM with replication factor 3', async () => {
      const op = testOp();
      await nodes[0].manager.databases.create([{ name: 'ringks', characterSet: '', collation: '', ctype: '', replication: { dc1: 3 } }], op);
      await nodes[0].manager.users.create(
        [{ name: appRole.user, host: '', password: appRole.password, access: [{ database: 'ringks' }], permissions: '' }],
        op,
      );
      // Keyspaces and roles are the ring's, whichever member was asked.
      expect((await nodes[2].manager.databases.list({ limit: 0, marker: '' }, op)).databases).toEqual([
        { name: 'ringks', characterSet: '', collation: '', ctype: '', replication: { dc1: 3 } },
      ]);
      expect((await nodes[1].manager.users.get({ name: appRole.user, host: '' }, op)).access).toEqual([{ database: 'ringks' }]);

      const c = await clientOf(ADDRESSES[1], appRole);
      await c.execute('CREATE TABLE ringks.items (id int PRIMARY KEY, body text)');
      for (let i = 0; i < ROWS; i += 50) {
        await Promise.all(
          Array.from({ length: 50 }, (_, j) =>
            c.execute('INSERT INTO ringks.items (id, body) VALUES (?, ?)', [i + j, `item ${i + j}`], {
              prepare: true,
              consistency: types.consistencies.quorum,
            }),
          ),
        );
      }
      for (const address of ADDRESSES.slice(0, 3)) expect(await readAll(address), `rows through ${address}`).toBe(ROWS);
    });

    it('a fourth node bootstraps into the ring; every member lists the others; data reads at QUORUM', async () => {
      const started = Date.now();
      const n4 = await addNode(3, true);
      const joinMs = Date.now() - started;
      console.info(`fourth node bootstrapped in ${joinMs} ms`);
      const yaml = await import('node:fs/promises').then((fs) => fs.readFile(n4.manager.paths.yaml, 'utf8'));
      expect(yaml).toContain('auto_bootstrap: true');
      expect(yaml).toContain(`seeds: ${SEED}`);

      // Gossip tells the others within a moment of the node turning NORMAL.
      for (const address of ADDRESSES) {
        expect(
          await until(
            `system.peers on ${address}`,
            () => peersOf(address),
            (p) => p.length === 3,
          ),
        ).toEqual(ADDRESSES.filter((a) => a !== address));
      }
      const ring = await n4.manager.cluster.ringView(testOp());
      expect(ring.members.map((m) => [m.address, m.status, m.state])).toEqual(ADDRESSES.map((a) => [a, 'up', 'normal']));
      expect((await n4.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);
      // It joined a secured ring: the shared admin role works on it, the default superuser does not.
      expect(await canLogIn(ADDRESSES[3], { user: 'cassandra', password: 'cassandra' })).toBe(false);
      expect(await readAll(ADDRESSES[3])).toBe(ROWS);

      // The old members drop what they no longer own.
      await Promise.all(nodes.slice(0, 3).map((n) => n.manager.cluster.cleanup(testOp())));
      for (const address of ADDRESSES) expect(await readAll(address), `rows through ${address}`).toBe(ROWS);
    });

    it('decommission: the node leaves every peer list, ends stopped, and is not started again', async () => {
      const n4 = nodes[3];
      const spec = await n4.manager.serviceSpec();
      const op = testOp();
      await n4.manager.cluster.decommission(op);
      expect(op.steps.at(-1)?.message).toBe('decommissioned');
      expect(serverProcesses(spec)).toEqual([]);
      const probe = await n4.manager.probe();
      expect(probe.status).toBe(DatastoreStatus.SHUTDOWN);
      expect(probe.facts.decommissioned).toBe('true');

      for (const address of ADDRESSES.slice(0, 3)) {
        expect(
          await until(
            `system.peers on ${address}`,
            () => peersOf(address),
            (p) => p.length === 2,
          ),
        ).toEqual(ADDRESSES.slice(0, 3).filter((a) => a !== address));
      }
      const ring = await nodes[0].manager.cluster.ringView(testOp());
      expect(ring.members.map((m) => m.address)).toEqual(ADDRESSES.slice(0, 3));
      for (const address of ADDRESSES.slice(0, 3)) expect(await readAll(address)).toBe(ROWS);

      // Neither this agent nor a restarted one brings it back.
      const refused = await n4.manager.start(testOp()).then(
        () => undefined,
        (e: unknown) => asStewardError(e),
      );
      expect(refused?.code).toBe('FAILED_PRECONDITION');
      const again = n4.reopen();
      await expect(again.manager.start(testOp())).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      await n4.manager.cluster.decommission(testOp()); // again: already done
      expect(serverProcesses(spec)).toEqual([]);
    });
  });
}
