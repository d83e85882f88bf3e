// The install an operator does, under a real systemd: a Debian machine booted
// with systemd-nspawn (scripts/debian-root.sh systemd-host: systemd as init,
// MariaDB from Debian), the steward-controller and steward-agent packages
// installed with dpkg, the controller with the external provisioner, the agent
// enrolled with a one-time token and running MariaDB in its own
// steward-datastore@ unit. Then what systemd is there for: READY and STATUS,
// the database kept running across an agent restart, a watchdog restart of a
// hung agent and a package upgrade, and the effective exposure of each unit.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BootedMachine, bootUnavailableReason, debianRoot } from '../fixtures/booted-machine.js';
import { tempDir, waitFor } from '../fixtures/controller.js';
import { buildDebs, EXPOSURE, exposureScore } from '../fixtures/packages.js';

const unavailable = bootUnavailableReason();
if (unavailable) console.warn(`SKIPPING the install under systemd: ${unavailable}`);

// The machine shares the host's network: addresses of its own on loopback, ports below the ephemeral range.
const API = '127.77.0.1:15051';
const GATEWAY = '127.77.0.1:15052';
const DB_HOST = '127.77.0.2';
const DB_PORT = 13306;
const VERSION = '0.0.1';
const UPGRADE = '0.0.2';

const controllerYaml = `listen: ${API}
agentListen: ${GATEWAY}
serverNames: [127.77.0.1]
dataDir: /var/lib/steward-controller
provisioner:
  kind: external
  heartbeatIntervalMs: 2000
`;

const agentYaml = (id: string) => `instanceId: ${id}
datastore: mysql
controller:
  address: ${GATEWAY}
  enrollAddress: ${API}
  caFile: /etc/steward/ca.pem
enrollment:
  tokenFile: /etc/steward/enrollment.token
stateDir: /var/lib/steward-agent
serviceControl: systemd
bindAddress: ${DB_HOST}
port: ${DB_PORT}
advertiseAddress: ${DB_HOST}
memoryMb: 512
heartbeatIntervalMs: 2000
health:
  host: 127.0.0.1
  port: 19187
`;

describe.skipIf(!!unavailable)('installed from the packages under a booted systemd', () => {
  let machine: BootedMachine;
  let id: string;
  let datastoreUnit: string;
  let ctlEnv: Record<string, string>;
  const timings: Record<string, number> = {};
  const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const v = await fn();
    timings[what] = Math.round(performance.now() - t0);
    return v;
  };

  const ctl = async (...args: string[]) => (await machine.exec(['stewardctl', ...args], { env: ctlEnv })).stdout;
  const instance = async () => {
    const shown = JSON.parse(await ctl('--json', 'instance', 'show', id));
    return shown.instance ?? shown;
  };
  const healthy = () =>
    waitFor(
      'the instance HEALTHY with its agent connected',
      async () => {
        const i = await instance();
        return i.status === 'DATASTORE_STATUS_HEALTHY' && i.agentConnected && i;
      },
      120_000,
      250,
    );
  const serverPid = async () => Number(await machine.unitProperty(datastoreUnit, 'MainPID'));
  const agentPid = async () => Number(await machine.unitProperty('steward-agent.service', 'MainPID'));
  const failure = async (err: unknown) => {
    const journals = await Promise.all(['steward-controller', 'steward-agent', datastoreUnit].filter(Boolean).map((u) => machine.journal(u)));
    throw new Error(`${(err as Error).message}\n--- journals ---\n${journals.join('\n---\n')}`);
  };

  beforeAll(async () => {
    const dir = tempDir('systemd-install-');
    const debs = join(dir, 'debs');
    mkdirSync(debs);
    await buildDebs(debs, VERSION);
    await buildDebs(debs, UPGRADE);
    const root = await debianRoot('systemd-host');
    machine = await timed('boot', () => BootedMachine.boot(root, { [debs]: '/debs' }, join(dir, 'console.log')));
  }, 600_000);

  afterAll(async () => {
    await machine?.powerOff();
  });

  it('installs both packages: users, directories, configs from the examples, units enabled and not started', async () => {
    await timed('dpkg -i', () => machine.exec(['dpkg', '-i', `/debs/steward-controller_${VERSION}_amd64.deb`, `/debs/steward-agent_${VERSION}_amd64.deb`]));
    for (const unit of ['steward-controller.service', 'steward-agent.service']) {
      expect(await machine.unitProperty(unit, 'UnitFileState')).toBe('enabled');
      expect(await machine.unitProperty(unit, 'ActiveState')).toBe('inactive');
    }
    expect((await machine.exec(['getent', 'passwd', 'steward'])).stdout).toMatch(/^steward:/);
    expect(
      (await machine.exec(['stat', '-c', '%a %U %G', '/etc/steward', '/etc/steward/controller.yaml', '/etc/steward/agent.yaml'])).stdout.split('\n'),
    ).toEqual(['750 root steward', '640 root steward', '600 root root', '']);
  });

  it('starts the controller as a notify service: READY after it listens, STATUS saying where', async () => {
    await machine.writeFile('/etc/steward/controller.yaml', controllerYaml, '0640');
    await timed('controller start', () => machine.exec(['systemctl', 'start', 'steward-controller']).catch(failure));
    expect(await machine.unitProperty('steward-controller.service', 'ActiveState')).toBe('active');
    expect(await machine.unitProperty('steward-controller.service', 'StatusText')).toContain(API);
    expect((await machine.exec(['ps', '-o', 'user=', '-p', await machine.unitProperty('steward-controller.service', 'MainPID')])).stdout.trim()).toBe(
      'steward',
    );
    const token = (await machine.exec(['cat', '/var/lib/steward-controller/admin.token'])).stdout.trim();
    ctlEnv = { STEWARD_CONTROLLER: API, STEWARD_CA_FILE: '/var/lib/steward-controller/pki/ca.pem', STEWARD_TOKEN: token, NO_COLOR: '1' };
  });

  it('enrolls an agent with a one-time token; the agent prepares MariaDB in a unit of its own, as mysql, and reports HEALTHY', async () => {
    const created = JSON.parse(await ctl('--json', 'instance', 'create', 'shop', '--datastore', 'mysql', '--memory-mb', '512', '--no-wait'));
    id = created.instance.id;
    datastoreUnit = `steward-datastore@mariadb-${id}.service`;
    const token = (await ctl('instance', 'enrollment-token', id)).trim();
    expect(token).not.toContain('\n');
    await machine.writeFile('/etc/steward/enrollment.token', `${token}\n`);
    await machine.exec(['cp', '/var/lib/steward-controller/pki/ca.pem', '/etc/steward/ca.pem']);
    await machine.writeFile('/etc/steward/agent.yaml', agentYaml(id));
    await timed('agent start → HEALTHY', async () => {
      await machine.exec(['systemctl', 'start', 'steward-agent']).catch(failure);
      await healthy().catch(failure);
    });
    expect(await machine.unitProperty('steward-agent.service', 'StatusText')).toBeTruthy();
    // The token is spent and gone; the datastore runs under systemd as its own user.
    expect((await machine.exec(['test', '-e', '/etc/steward/enrollment.token'], { okCodes: [1] })).code).toBe(1);
    expect(await machine.unitProperty(datastoreUnit, 'ActiveState')).toBe('active');
    expect(await machine.unitProperty(datastoreUnit, 'User')).toBe('mysql');
    expect((await machine.exec(['ps', '-o', 'comm=', '-p', String(await serverPid())])).stdout.trim()).toBe('mariadbd');
    // A database through the API lands in the server the unit runs.
    await ctl('database', 'create', id, 'orders');
    const dbs = await machine.exec(['mariadb', '--socket=/var/lib/steward-agent/run/mysqld.sock', '-N', '-e', 'SHOW DATABASES']);
    expect(dbs.stdout.split('\n')).toContain('orders');
  });

  it('restarting the agent leaves the database running (same server pid) and the instance HEALTHY', async () => {
    const server = await serverPid();
    const agent = await agentPid();
    await machine.exec(['systemctl', 'restart', 'steward-agent']);
    expect(await agentPid()).not.toBe(agent);
    expect(await serverPid()).toBe(server);
    await healthy();
  });

  it('a hung agent (SIGSTOP) misses its watchdog pings and systemd restarts it; the database keeps running', async () => {
    // A short watchdog for the test, as an operator's drop-in would set it.
    await machine.sh(
      'mkdir -p /etc/systemd/system/steward-agent.service.d && printf "[Service]\\nWatchdogSec=4\\nRestartSec=1\\n" > /etc/systemd/system/steward-agent.service.d/watchdog.conf && systemctl daemon-reload && systemctl restart steward-agent',
    );
    await healthy();
    const server = await serverPid();
    const hung = await agentPid();
    const restarts = Number(await machine.unitProperty('steward-agent.service', 'NRestarts'));
    await machine.exec(['kill', '-STOP', String(hung)]);
    await waitFor(
      'systemd to restart the hung agent',
      async () => Number(await machine.unitProperty('steward-agent.service', 'NRestarts')) > restarts && (await agentPid()) !== hung && (await agentPid()) > 0,
      60_000,
      250,
    );
    expect(await machine.journal('steward-agent')).toMatch(/Watchdog timeout/);
    expect(await serverPid()).toBe(server);
    await healthy();
  });

  it('upgrading the agent package restarts the agent, never the database, and keeps a changed config', async () => {
    await machine.exec(['sh', '-c', 'echo "# changed by the operator" >> /etc/steward/agent.yaml']);
    const server = await serverPid();
    const agent = await agentPid();
    await machine.exec(['dpkg', '-i', `/debs/steward-agent_${UPGRADE}_amd64.deb`]);
    expect((await machine.exec(['dpkg-query', '-W', '--showformat=$' + '{Version}', 'steward-agent'])).stdout).toBe(UPGRADE);
    await waitFor('the upgraded agent running', async () => (await agentPid()) > 0 && (await agentPid()) !== agent, 30_000, 250);
    expect(await serverPid()).toBe(server);
    expect((await machine.exec(['tail', '-n', '1', '/etc/steward/agent.yaml'])).stdout).toBe('# changed by the operator\n');
    await healthy();
    const dbs = await machine.exec(['mariadb', '--socket=/var/lib/steward-agent/run/mysqld.sock', '-N', '-e', 'SHOW DATABASES']);
    expect(dbs.stdout.split('\n')).toContain('orders');
  });

  it('every unit, with what the agent adds, scores within its exposure bound on the booted system', async () => {
    const units: [string, keyof typeof EXPOSURE][] = [
      ['steward-agent.service', 'steward-agent.service'],
      ['steward-controller.service', 'steward-controller.service'],
      [datastoreUnit, 'steward-datastore@.service'],
    ];
    for (const [unit, bound] of units) {
      const score = exposureScore((await machine.exec(['systemd-analyze', 'security', '--no-pager', unit])).stdout);
      console.log(`${unit}: exposure ${score} on the booted system (at most ${EXPOSURE[bound]})`);
      expect(score).toBeLessThanOrEqual(EXPOSURE[bound]);
    }
  });

  it('deleting the instance stops its unit and removes its drop-in', async () => {
    await ctl('instance', 'delete', id, '--wait');
    await waitFor('the datastore unit stopped', async () => (await machine.unitProperty(datastoreUnit, 'ActiveState')) !== 'active', 60_000, 250);
    const dropIn = await machine.exec(['test', '-e', `/run/systemd/system/${datastoreUnit}.d`], { okCodes: [1] });
    expect(dropIn.code).toBe(1);
    console.log(`install under systemd (ms): ${JSON.stringify(timings)}`);
  });
});
