// The Debian packages as an operator gets them: scripts/package.mjs builds
// steward-agent and steward-controller, dpkg-deb unpacks them into a root of
// their own, and what is inside runs: the Node.js LTS each carries, the native
// addons built for it, the hardened units (systemd-analyze verify and its
// offline security score), and a MariaDB instance created and deleted by the
// packaged controller, agent and stewardctl, none of them from this checkout.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, waitFor } from '../fixtures/controller.js';
import { mysqlUnavailableReason } from '../fixtures/mysql-instance.js';
import { buildDebs, EXPOSURE, exposureScore } from '../fixtures/packages.js';

const run = promisify(execFile);
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const missing = ['dpkg-deb', 'npm', 'systemd-analyze'].filter((c) => !has(c));
if (missing.length) console.warn(`SKIPPING package tests: ${missing.join(', ')} not installed`);
const noMysql = await mysqlUnavailableReason();
if (noMysql) console.warn(`SKIPPING the packaged MariaDB instance: ${noMysql}`);

describe.skipIf(missing.length > 0)('Debian packages', () => {
  let dir: string;
  let root: string;
  const debs: Record<string, string> = {};
  const children: ChildProcess[] = [];
  const agentNode = () => join(root, 'usr/lib/steward-agent/node/bin/node');
  const controllerNode = () => join(root, 'usr/lib/steward-controller/node/bin/node');

  beforeAll(async () => {
    dir = tempDir('packages-');
    root = join(dir, 'root');
    Object.assign(debs, await buildDebs(join(dir, 'debs')));
    for (const deb of Object.values(debs)) await run('dpkg-deb', ['-x', deb, root]);
  }, 900_000);
  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
  });

  it('say what they are: names, dependencies, conffiles, maintainer scripts, commands on PATH', async () => {
    expect(Object.keys(debs).sort()).toEqual(['steward-agent', 'steward-controller']);
    const field = async (pkg: string, f: string) => (await run('dpkg-deb', ['-f', debs[pkg], f])).stdout.trim();
    expect(await field('steward-agent', 'Depends')).toMatch(/systemd/);
    expect(await field('steward-controller', 'Depends')).toMatch(/adduser/);
    for (const pkg of ['steward-agent', 'steward-controller']) {
      const control = join(dir, `control-${pkg}`);
      await run('dpkg-deb', ['-e', debs[pkg], control]);
      for (const script of ['postinst', 'prerm', 'postrm']) expect(statSync(join(control, script)).mode & 0o111).toBeTruthy();
      // Configs ship as examples: an operator's changed config is never overwritten.
      expect(readFileSync(join(control, 'conffiles'), 'utf8')).toMatch(/^\/etc\/steward\/(agent|controller)\.yaml\.example$/m);
      // Enabled on install, never started; restarted on upgrade only if it runs.
      const postinst = readFileSync(join(control, 'postinst'), 'utf8');
      expect(postinst).toMatch(/enable/);
      expect(postinst).not.toMatch(/systemctl start|invoke start/);
      expect(postinst).toMatch(/try-restart/);
    }
    for (const cmd of ['steward-agent', 'steward-controller', 'stewardctl']) expect(statSync(join(root, 'usr/bin', cmd)).mode & 0o111).toBeTruthy();
    // Nothing transpiles at run time: no TypeScript and no tsx inside.
    const files = (await run('find', [root, '-name', '*.ts', '-o', '-name', 'tsx', '-type', 'd'])).stdout.trim();
    expect(files).toBe('');
  });

  it('carry a maintained Node.js LTS and native addons built for it, loaded from the package', async () => {
    for (const node of [agentNode(), controllerNode()]) {
      const version = (await run(node, ['--version'])).stdout.trim();
      expect(Number(version.slice(1).split('.')[0])).toBeGreaterThanOrEqual(22);
      const app = join(node, '..', '..', '..', 'app', 'node_modules');
      const loaded = await run(node, [
        '-e',
        `const D=require(${JSON.stringify(join(app, 'better-sqlite3'))});new D(':memory:').prepare('select 1').get();` +
          `const s=require(${JSON.stringify(join(app, 'sodium-native'))});const b=Buffer.alloc(8);s.randombytes_buf(b);` +
          `console.log(require.resolve(${JSON.stringify(join(app, 'better-sqlite3'))}))`,
      ]);
      expect(loaded.stdout).toContain(app);
    }
  });

  it('units verify clean under systemd and score within their exposure bounds', async () => {
    // A root with the units and commands from the packages, plus the targets and /bin/false they refer to.
    const units = join(root, 'lib/systemd/system');
    for (const f of readdirSync('/lib/systemd/system').filter((f) => /\.(target|slice|socket)$/.test(f))) {
      if (!existsSync(join(units, f)) && statSync(join('/lib/systemd/system', f)).isFile()) copyFileSync(join('/lib/systemd/system', f), join(units, f));
    }
    mkdirSync(join(root, 'bin'), { recursive: true });
    copyFileSync('/bin/false', join(root, 'bin/false'));
    for (const unit of Object.keys(EXPOSURE)) {
      const verify = spawnSync('systemd-analyze', ['verify', '--man=no', `--root=${root}`, join(units, unit)], { encoding: 'utf8' });
      expect(verify.stderr, `${unit}: ${verify.stderr}`).toBe('');
      expect(verify.status).toBe(0);
      const security = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', join(units, unit)], { encoding: 'utf8' });
      const score = exposureScore(security.stdout);
      console.log(`${unit}: exposure ${score} (at most ${EXPOSURE[unit as keyof typeof EXPOSURE]})`);
      expect(score).toBeLessThanOrEqual(EXPOSURE[unit as keyof typeof EXPOSURE]);
    }
  });

  it.skipIf(!!noMysql)(
    'run: the packaged controller, agent and stewardctl create and delete a MariaDB instance',
    async () => {
      const data = join(dir, 'controller');
      const config = join(dir, 'controller.yaml');
      const offset = 2540 * Number(process.env.VITEST_POOL_ID ?? 1);
      writeFileSync(
        config,
        `dataDir: ${data}\nlisten: 127.0.0.1:0\nagentListen: 127.0.0.1:0\nprovisioner:\n  kind: local\n  heartbeatIntervalMs: 500\n  loopbackOffset: ${offset}\n` +
          `  agentCommand: [${JSON.stringify(agentNode())}, ${JSON.stringify(join(root, 'usr/lib/steward-agent/app/steward-agent.mjs'))}]\n`,
      );
      const controller = spawn(controllerNode(), [join(root, 'usr/lib/steward-controller/app/steward-controller.mjs'), '--config', config], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(controller);
      let output = '';
      controller.stdout!.on('data', (d) => (output += d));
      controller.stderr!.on('data', (d) => (output += d));
      const exited = new Promise((r) => controller.once('exit', r));
      const api = await waitFor(
        'the packaged controller listening',
        async () => {
          if (controller.exitCode !== null) throw new Error(`the packaged controller exited ${controller.exitCode}: ${output}`);
          return /steward-controller: API (\S+),/.exec(output)?.[1];
        },
        60_000,
      );
      const env = {
        ...process.env,
        STEWARD_CONTROLLER: api,
        STEWARD_CA_FILE: join(data, 'pki', 'ca.pem'),
        STEWARD_TOKEN: readFileSync(join(data, 'admin.token'), 'utf8').trim(),
        NO_COLOR: '1',
      };
      // The launcher's absolute paths point under /usr/lib; here the package lives elsewhere, so run its node on its script.
      const ctlHere = (...args: string[]) =>
        run(controllerNode(), [join(root, 'usr/lib/steward-controller/app/stewardctl.mjs'), ...args], { env, maxBuffer: 16 << 20 });
      expect(readFileSync(join(root, 'usr/bin/stewardctl'), 'utf8')).toContain('/usr/lib/steward-controller/node/bin/node');
      const created = JSON.parse((await ctlHere('--json', 'instance', 'create', 'packaged', '--datastore', 'mysql', '--memory-mb', '256')).stdout);
      const id = created.id ?? created.instance?.id;
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      const shown = JSON.parse((await ctlHere('--json', 'instance', 'show', id)).stdout);
      expect(shown.status ?? shown.instance?.status).toMatch(/HEALTHY/);
      // The agent runs on the agent package's runtime.
      const agents = (await run('pgrep', ['-af', 'steward-agent.mjs'])).stdout;
      expect(agents).toContain(agentNode());
      await ctlHere('instance', 'delete', id, '--wait');
      const left = JSON.parse((await ctlHere('--json', 'instance', 'list')).stdout);
      expect(left).toEqual([]);
      controller.kill('SIGTERM');
      await exited;
    },
    300_000,
  );
});
