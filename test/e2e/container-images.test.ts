// The images as a user runs them. scripts/containers.sh builds the controller
// image and the agent image (with MariaDB) from the .debs of this checkout
// (scripts/package.mjs) and the local Debian base; the suite's engine runs
// them with the host's network (it has no bridge), each port on loopback.
// stewardctl from this checkout drives the controller in its container: an
// instance through an agent on the host (the external provisioner: enrolled
// with a one-time token), the container restarted with its state kept on its
// volume, then an instance whose agent and server run in an agent container.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import type { StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker, engineUnavailableReason, localImage } from '../fixtures/container-engine.js';
import { tempDir, waitFor } from '../fixtures/controller.js';
import { describeUnavailable } from '../fixtures/datastore-suite.js';
import { freePort, mysqlUnavailableReason } from '../fixtures/mysql-instance.js';
import { buildDebs } from '../fixtures/packages.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** stewardctl from this checkout's build; `input` goes to its stdin. */
function stewardctl(args: string[], env: Record<string, string>, input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [join(ROOT, 'dist', 'stewardctl.mjs'), ...args],
      { env: { ...process.env, ...env, NO_COLOR: '1' }, maxBuffer: 16 << 20, timeout: 300_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`stewardctl ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout)),
    );
    child.stdin?.end(input ?? '');
  });
}

const reason = (await engineUnavailableReason()) ?? (await mysqlUnavailableReason());
const DATA = '/var/lib/steward-controller';

if (reason) {
  describeUnavailable('container images', 'needs a container engine and MariaDB on the host', 'the container image tests', reason);
} else {
  describe('container images: the controller and an agent with MariaDB', () => {
    let dir: string;
    let controllerImage: string;
    let agentImage: string;
    let controller: StartedTestContainer;
    let api: string;
    let gateway: string;
    const volume = `steward-test-${randomBytes(4).toString('hex')}`;
    const agents: ChildProcess[] = [];
    const containers: StartedTestContainer[] = [];
    let ctlEnv: Record<string, string>;
    const ctl = (...args: string[]) => stewardctl(args, ctlEnv);
    let hostInstance: string;

    const json = async (...args: string[]) => JSON.parse(await ctl('--json', ...args));
    const statusOf = async (id: string): Promise<string> => {
      const shown = await json('instance', 'show', id);
      return String(shown.instance?.status ?? shown.status);
    };
    const healthy = (id: string) => waitFor(`instance ${id} HEALTHY`, async () => /HEALTHY/.test(await statusOf(id)), 240_000, 500);
    const databases = async (id: string): Promise<string[]> => (await json('database', 'list', id)).map((d: { name: string }) => d.name);
    const health = async (c: StartedTestContainer) => (await docker(['inspect', '--format', '{{.State.Health.Status}}', c.getId()])).stdout.trim();

    async function startController(): Promise<StartedTestContainer> {
      const { GenericContainer, Wait } = await import('testcontainers');
      return (
        new GenericContainer(controllerImage)
          .withNetworkMode('host')
          .withEnvironment({ STEWARD_LISTEN: api, STEWARD_AGENT_LISTEN: gateway, STEWARD_HEARTBEAT_INTERVAL_MS: '1000' })
          // A name, not a path: a volume of the engine's, which outlives the container.
          .withBindMounts([{ source: volume, target: DATA }])
          .withWaitStrategy(Wait.forLogMessage(/steward-controller: API /))
          .withStartupTimeout(120_000)
          .start()
      );
    }

    beforeAll(async () => {
      dir = tempDir('steward-images-');
      const debs = join(dir, 'debs');
      await buildDebs(debs);
      controllerImage = await localImage('controller', debs);
      agentImage = await localImage('agent-mariadb', debs);
      api = `127.0.0.1:${await freePort()}`;
      gateway = `127.0.0.1:${await freePort()}`;
      controller = await startController();
      // The CA and the admin token, as an operator fetches them from the volume.
      const read = async (file: string) => (await controller.exec(['cat', join(DATA, file)])).stdout;
      writeFileSync(join(dir, 'ca.pem'), await read('pki/ca.pem'));
      ctlEnv = { STEWARD_CONTROLLER: api, STEWARD_CA_FILE: join(dir, 'ca.pem'), STEWARD_TOKEN: (await read('admin.token')).trim() };
    }, 900_000);

    afterAll(async () => {
      // After a failure part-way: the host agent's server outlives the agent (by design), so delete the instance first.
      if (hostInstance && agents.some((a) => a.exitCode === null)) await ctl('instance', 'delete', hostInstance, '--wait').catch(() => undefined);
      for (const a of agents) a.kill('SIGKILL');
      for (const c of [...containers, controller]) await c?.stop({ timeout: 10_000 }).catch(() => undefined);
      await docker(['volume', 'rm', '-f', volume]).catch(() => undefined);
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('the controller image runs as a user of its own, with a health check and its state on a volume', async () => {
      const [image] = JSON.parse((await docker(['image', 'inspect', controllerImage])).stdout);
      console.log(`image sizes: ${controllerImage} ${(image.Size / 2 ** 20).toFixed(0)} MiB`);
      expect(image.Config.User).toBe('steward');
      expect(image.Config.Healthcheck.Test.join(' ')).toContain('healthcheck.mjs');
      expect(Object.keys(image.Config.Volumes)).toEqual([DATA]);
      expect((await controller.exec(['id', '-un'])).stdout.trim()).toBe('steward');
      // The built controller on the package's runtime: nothing transpiles at run time.
      expect((await controller.exec(['sh', '-c', 'cat /proc/1/cmdline /proc/[0-9]*/cmdline | tr "\\0" " "'])).stdout).toContain(
        '/usr/lib/steward-controller/app/steward-controller.mjs',
      );
      expect((await controller.exec(['sh', '-c', 'find / -xdev -name tsx -o -xdev -name "*.ts" | head -1'])).stdout.trim()).toBe('');
      await waitFor('the container healthy', async () => (await health(controller)) === 'healthy', 120_000, 1_000);
    });

    it('stewardctl creates an instance whose agent runs on the host, enrolled with a one-time token', async () => {
      const created = await json('instance', 'create', 'on-host', '--datastore', 'mysql', '--memory-mb', '256', '--no-wait');
      hostInstance = created.instance?.id ?? created.id;
      const token = (await ctl('instance', 'enrollment-token', hostInstance)).trim();
      const config = join(dir, 'agent.yaml');
      writeFileSync(
        config,
        [
          `instanceId: ${hostInstance}`,
          'datastore: mysql',
          `controller: {address: "${gateway}", enrollAddress: "${api}", caFile: "${join(dir, 'ca.pem')}"}`,
          `enrollment: {token: "${token}"}`,
          `stateDir: ${join(dir, 'agent')}`,
          'serviceControl: process',
          'bindAddress: 127.0.0.1',
          `port: ${await freePort()}`,
          'advertiseAddress: 127.0.0.1',
          'memoryMb: 256',
          'heartbeatIntervalMs: 1000',
          `health: {host: 127.0.0.1, port: ${await freePort()}}`,
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
      const agent = spawn(process.execPath, [join(ROOT, 'dist', 'steward-agent.mjs'), '--config', config], { stdio: 'ignore' });
      agents.push(agent);
      await healthy(hostInstance);
      await ctl('database', 'create', hostInstance, 'orders');
      expect(await databases(hostInstance)).toContain('orders');
    });

    it('restarted, and replaced by a new container on the same volume, the controller keeps its state: the instance, its database, its agent', async () => {
      const kept = async () => {
        const listed = await json('instance', 'list');
        expect(listed.map((i: { id: string }) => i.id)).toEqual([hostInstance]);
        // The agent dials in again, with the certificate the kept CA issued: a read through it answers.
        const names = await waitFor('a read through the reconnected agent', () => databases(hostInstance), 120_000, 500);
        expect(names).toContain('orders');
        await healthy(hostInstance);
      };
      await controller.restart({ timeout: 30_000 });
      await kept();
      // The container's own files go with it; only the volume (a named one: kept by the removal) carries the state.
      await controller.stop({ timeout: 30_000 });
      controller = await startController();
      await kept();
    });

    it('stewardctl deletes the instance through its agent', async () => {
      await ctl('instance', 'delete', hostInstance, '--wait');
      expect(await json('instance', 'list')).toEqual([]);
    });

    it('an agent container enrolls, prepares MariaDB and serves a working instance', async () => {
      const { GenericContainer } = await import('testcontainers');
      const created = await json('instance', 'create', 'boxed', '--datastore', 'mysql', '--memory-mb', '256', '--no-wait');
      const id = created.instance?.id ?? created.id;
      const port = await freePort();
      const agent = await new GenericContainer(agentImage)
        .withNetworkMode('host')
        .withEnvironment({
          STEWARD_AGENT_INSTANCE_ID: id,
          STEWARD_AGENT_CONTROLLER: gateway,
          STEWARD_AGENT_ENROLL_ADDRESS: api,
          STEWARD_AGENT_ENROLLMENT_TOKEN: (await ctl('instance', 'enrollment-token', id)).trim(),
          STEWARD_AGENT_CA_PEM: (await controller.exec(['cat', join(DATA, 'pki/ca.pem')])).stdout,
          STEWARD_AGENT_ADVERTISE: '127.0.0.1',
          STEWARD_AGENT_BIND: '127.0.0.1',
          STEWARD_AGENT_PORT: String(port),
          STEWARD_AGENT_MEMORY_MB: '256',
          STEWARD_AGENT_HEARTBEAT_INTERVAL_MS: '1000',
          STEWARD_AGENT_HEALTH_PORT: String(await freePort()),
        })
        .start();
      containers.push(agent);
      const [image] = JSON.parse((await docker(['image', 'inspect', agentImage])).stdout);
      console.log(`image sizes: ${agentImage} ${(image.Size / 2 ** 20).toFixed(0)} MiB`);
      await healthy(id);
      await ctl('database', 'create', id, 'orders');
      // In the server the container runs, as the agent left it (root through the socket, as on a VM).
      const dbs = await agent.exec(['mariadb', '--socket=/var/lib/steward-agent/run/mysqld.sock', '-N', '-e', 'SHOW DATABASES']);
      expect(dbs.stdout.split('\n')).toContain('orders');
      // And to a client: a user made through stewardctl, over TCP.
      await stewardctl(['user', 'create', id, 'app', '--password-stdin', '--database', 'orders'], ctlEnv, 'app-Pw-12345\n');
      const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app-Pw-12345', database: 'orders' });
      await c.query('CREATE TABLE t (x INT)');
      await c.end();
      await waitFor('the agent container healthy', async () => (await health(agent)) === 'healthy', 120_000, 1_000);
      await ctl('instance', 'delete', id, '--wait');
      expect(await json('instance', 'list')).toEqual([]);
    });

    it('the entrypoints refuse hostile settings before anything starts', async () => {
      const refused = async (image: string, env: Record<string, string>, message: RegExp) => {
        const args = ['run', '--rm', '--pull=never', '--network', 'none', ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]), image];
        const out = await docker(args, { okCodes: [64] });
        expect(out.code, out.stderr).toBe(64);
        expect(out.stderr).toMatch(message);
      };
      await refused(controllerImage, { STEWARD_LISTEN: '127.0.0.1:1\nprovisioner: {kind: local}' }, /STEWARD_LISTEN: one line/);
      await refused(controllerImage, { STEWARD_AGENT_LISTEN: '0.0.0.0:50052 # x' }, /STEWARD_AGENT_LISTEN: not a host:port/);
      await refused(controllerImage, { STEWARD_SERVER_NAMES: 'a]\ndataDir: /tmp' }, /STEWARD_SERVER_NAMES/);
      await refused(controllerImage, { STEWARD_HEARTBEAT_INTERVAL_MS: '1; rm -rf /' }, /STEWARD_HEARTBEAT_INTERVAL_MS/);
      const agentEnv = {
        STEWARD_AGENT_INSTANCE_ID: '3f0c2a64-5b1e-4a8e-9f55-0c7e1d2b9a10',
        STEWARD_AGENT_CONTROLLER: '127.0.0.1:1',
        STEWARD_AGENT_ENROLL_ADDRESS: '127.0.0.1:2',
        STEWARD_AGENT_ADVERTISE: '127.0.0.1',
        STEWARD_AGENT_CA_PEM: '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----',
      };
      await refused(agentImage, { ...agentEnv, STEWARD_AGENT_INSTANCE_ID: 'x\nserviceControl: systemd' }, /STEWARD_AGENT_INSTANCE_ID/);
      await refused(agentImage, { ...agentEnv, STEWARD_AGENT_CONTROLLER: '127.0.0.1:1\ninsecure: true' }, /STEWARD_AGENT_CONTROLLER/);
      await refused(agentImage, { ...agentEnv, STEWARD_AGENT_PORT: '3306 # x' }, /STEWARD_AGENT_PORT/);
      await refused(agentImage, { ...agentEnv, STEWARD_AGENT_CA_PEM: 'not a certificate' }, /STEWARD_AGENT_CA_PEM/);
      await refused(agentImage, { ...agentEnv, STEWARD_AGENT_CA_PEM: `${agentEnv.STEWARD_AGENT_CA_PEM}\nx: y` }, /STEWARD_AGENT_CA_PEM/);
      // The datastore images' settings reach SQL, ACL files and command lines: one line, a narrow alphabet.
      const good = { STEWARD_ADMIN_PASSWORD: 'Abcdefgh12345678' };
      for (const image of ['mariadb', 'postgresql', 'redis'] as const) {
        const tag = await localImage(image);
        await refused(tag, { STEWARD_ADMIN_PASSWORD: "x'; DROP USER root; --x" }, /STEWARD_ADMIN_PASSWORD/);
        await refused(tag, { STEWARD_ADMIN_PASSWORD: "Abcdefgh12345678\nx'; DROP USER root; --" }, /STEWARD_ADMIN_PASSWORD: one line/);
        await refused(tag, { ...good, STEWARD_PORT: '99999' }, /STEWARD_PORT/);
        await refused(tag, { ...good, STEWARD_RUN_DIR: '/run/x;rm -rf /' }, /STEWARD_RUN_DIR/);
      }
    });
  });
}
