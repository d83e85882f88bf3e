// stewardctl as an operator runs it: the real CLI in a child process against a
// real controller (TLS, bearer tokens, local provisioner spawning real agents)
// started in this process. Asserts on what a person or a script sees: stdout,
// the one stderr line of a failure, and the exit code.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mysql from 'mysql2/promise';
import { startTestController, type TestController } from '../fixtures/controller.js';
import { freePort, mysqlUnavailableReason } from '../fixtures/mysql-instance.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// The built command (scripts/build.mjs, run by the suite's global set-up), as installed.
const CLI = join(ROOT, 'dist', 'stewardctl.mjs');
const NOOP = 'noop-fixture';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Exactly one line on stderr: the contract scripts and people rely on. */
const oneLine = (code: string) => new RegExp(`^stewardctl: ${code}: [^\\n]+\\n$`);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const noMysql = await mysqlUnavailableReason();
if (noMysql) console.warn(`SKIPPED stewardctl full flow on MySQL/MariaDB: ${noMysql}`);

let home: string;
let baseEnv: Record<string, string> = {};

/** Runs stewardctl; never blocks this process (the controller under test lives here). */
function stewardctl(args: string[], opts: { env?: Record<string, string | undefined>; input?: string; timeoutMs?: number } = {}): Promise<Run> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('STEWARD_')) env[k] = v;
  Object.assign(env, { HOME: home, XDG_CONFIG_HOME: join(home, '.config'), NO_COLOR: '1' }, baseEnv);
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** A few at a time: each run is a Node process, and the machine may have two cores. */
async function all<T>(items: T[], fn: (item: T) => Promise<void>, width = 4): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
    }),
  );
}

const json = <T = any>(r: Run): T => {
  expect(r.stderr.match(/^stewardctl: [A-Z_]+:.*$/m), r.stderr).toBeNull();
  return JSON.parse(r.stdout) as T;
};

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'stewardctl-home-'));
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('stewardctl', () => {
  let t: TestController;

  beforeAll(async () => {
    t = await startTestController({ provisioner: { heartbeatIntervalMs: 1000 } });
    baseEnv = { STEWARD_CONTROLLER: t.controller.address, STEWARD_CA_FILE: t.controller.caFile, STEWARD_TOKEN: t.controller.adminToken };
  });
  afterAll(async () => t?.close());

  describe('help', () => {
    it('documents the command tree, configuration and exit codes', async () => {
      const r = await stewardctl(['--help']);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      for (const group of ['instance', 'database', 'user', 'root', 'operation', 'backup']) expect(r.stdout).toMatch(new RegExp(`^  ${group}\\b`, 'm'));
      for (const s of ['STEWARD_CONTROLLER', 'STEWARD_TOKEN', 'STEWARD_CA_FILE', 'cli.yaml', 'Exit status', '--json']) expect(r.stdout).toContain(s);
    });

    it('has a usage line and a description on every command', async () => {
      const commands = [
        'instance',
        'instance create',
        'instance list',
        'instance show',
        'instance delete',
        'instance restart',
        'database',
        'database create',
        'database list',
        'database delete',
        'user',
        'user create',
        'user list',
        'user show',
        'user delete',
        'user grant',
        'user revoke',
        'user password',
        'root',
        'root enable',
        'root show',
        'root disable',
        'operation',
        'operation show',
        'operation wait',
        'operation list',
        'operation cancel',
        'backup',
        'backup create',
        'backup list',
        'backup show',
        'backup delete',
        'instance promote',
        'instance detach',
        'replica-set',
        'replica-set show',
        'replica-set update',
        'replica-set failover',
        'configuration',
        'configuration create',
        'configuration list',
        'configuration show',
        'configuration update',
        'configuration delete',
        'configuration attach',
        'configuration detach',
        'configuration defaults',
        'instance resize',
        'log',
        'log list',
        'log enable',
        'log disable',
        'log show',
        'log publish',
        'log discard',
      ];
      await all(commands, async (c) => {
        const r = await stewardctl([...c.split(' '), '--help']);
        expect(r.code, c).toBe(0);
        expect(r.stdout, c).toMatch(new RegExp(`^Usage: stewardctl ${c.replace(' ', '(\\|\\w+)? ')}`));
        expect(r.stdout.split('\n')[2]!.length, `${c} has a description`).toBeGreaterThan(15);
        expect(r.stdout, c).toContain('--controller'); // global options are shown everywhere
      });
      const create = await stewardctl(['instance', 'create', '--help']);
      for (const o of [
        '--datastore',
        '--memory-mb',
        '--database',
        '--user',
        '--password-stdin',
        '--backup',
        '--no-wait',
        '--replica-of',
        '--replica-count',
        '--synchronous',
        '--failover',
        '--max-lag',
        '--configuration',
      ]) {
        expect(create.stdout).toContain(o);
      }
    });

    it("shows a group's help on stderr and exits 2 when its subcommand is missing", async () => {
      const r = await stewardctl(['user']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('Usage: stewardctl user');
    });
  });

  describe('against an empty controller', () => {
    it('lists no instances as a header-only table, and as [] with --json', async () => {
      const table = await stewardctl(['instance', 'list']);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/^ID\s+NAME\s+DATASTORE\s+ROLE\s+STATUS\s+TASK\s+ADDRESS\s+AGENT\n$/);
      const j = await stewardctl(['--json', 'instance', 'list']);
      expect(j.code).toBe(0);
      expect(json(j)).toEqual([]);
    });

    it('exits 1 with one NOT_FOUND line for an unknown instance or operation', async () => {
      const r = await stewardctl(['instance', 'show', 'no-such-instance']);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe('stewardctl: NOT_FOUND: instance no-such-instance not found\n');
      const op = await stewardctl(['operation', 'wait', 'no-such-op']);
      expect(op.code).toBe(1);
      expect(op.stderr).toMatch(oneLine('NOT_FOUND'));
    });

    it("passes the server's refusal through with its code (exit 1)", async () => {
      const r = await stewardctl(['instance', 'create', 'x', '--datastore', 'oracle']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(oneLine('INVALID_ARGUMENT'));
      expect(r.stderr).toContain('unknown datastore "oracle"');
    });

    it('exits 2 with one USAGE line for bad command lines, sending nothing', async () => {
      const cases: string[][] = [
        ['instance', 'show'],
        ['instanc', 'list'],
        ['instance', 'list', '--bogus'],
        ['instance', 'create', 'x'],
        ['instance', 'create', 'x', '--datastore', 'mysql', '--memory-mb', 'lots'],
        ['instance', 'create', 'x', '--datastore', 'mysql', '--user', 'nopassword'],
        ['instance', 'create', 'x', '--datastore', 'mysql', '--user', ':pw'],
        ['user', 'create', 'some-id', 'bob'],
        ['user', 'create', 'some-id', 'bob', '--password', 'a', '--password-stdin'],
        ['user', 'grant', 'some-id', 'bob'],
        ['--timeout', '0', 'operation', 'wait', 'x'],
        ['--controller', 'no-port-here', 'instance', 'list'],
        ['--insecure', '--ca-file', '/etc/hostname', 'instance', 'list'],
      ];
      await all(cases, async (args) => {
        // An unreachable controller proves nothing was sent: a request would fail with UNAVAILABLE, not USAGE.
        const r = await stewardctl(args, { env: { STEWARD_CONTROLLER: '127.0.0.1:1' } });
        expect(r.stderr, args.join(' ')).toMatch(oneLine('USAGE'));
        expect(r.code, args.join(' ')).toBe(2);
        expect(r.stdout, args.join(' ')).toBe('');
      });
      const typo = await stewardctl(['instanc', 'list']);
      expect(typo.stderr).toContain('Did you mean instance?');
      const missing = await stewardctl(['instance', 'show']);
      expect(missing.stderr).toBe("stewardctl: USAGE: missing required argument 'ID' (see stewardctl instance show --help)\n");
    });

    it('names the address and where it came from when the controller is unreachable', async () => {
      const port = await freePort();
      const flag = await stewardctl(['--controller', `127.0.0.1:${port}`, 'instance', 'list']);
      expect(flag.code).toBe(1);
      expect(flag.stderr).toMatch(oneLine('UNAVAILABLE'));
      expect(flag.stderr).toContain(`cannot reach the controller at 127.0.0.1:${port} (connect ECONNREFUSED 127.0.0.1:${port})`);
      expect(flag.stderr).toContain('came from --controller');

      const dir = join(home, 'cfg-unreachable');
      mkdirSync(dir, { recursive: true });
      const file = join(dir, 'cli.yaml');
      writeFileSync(file, `controller: 127.0.0.1:${port}\n`, { mode: 0o600 });
      const fromFile = await stewardctl(['instance', 'list'], { env: { STEWARD_CONTROLLER: undefined, STEWARD_CONFIG: file } });
      expect(fromFile.code).toBe(1);
      expect(fromFile.stderr).toMatch(oneLine('UNAVAILABLE'));
      expect(fromFile.stderr).toContain(`came from "controller" in ${file}`);
    });

    it('reads controller, CA and token from the config file, and rejects unknown keys', async () => {
      const dir = join(home, '.config', 'steward');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'cli.yaml'), `controller: ${t.controller.address}\ncaFile: ${t.controller.caFile}\ntoken: ${t.controller.adminToken}\n`, {
        mode: 0o600,
      });
      try {
        const noEnv = { STEWARD_CONTROLLER: undefined, STEWARD_CA_FILE: undefined, STEWARD_TOKEN: undefined };
        const ok = await stewardctl(['--json', 'instance', 'list'], { env: noEnv });
        expect(ok.code).toBe(0);
        expect(ok.stderr).toBe('');
        expect(json(ok)).toEqual([]);
        writeFileSync(join(dir, 'cli.yaml'), 'controler: 127.0.0.1:1\n');
        const bad = await stewardctl(['instance', 'list'], { env: noEnv });
        expect(bad.code).toBe(2);
        expect(bad.stderr).toMatch(oneLine('USAGE'));
        expect(bad.stderr).toContain('unknown key controler');
      } finally {
        rmSync(join(dir, 'cli.yaml'), { force: true });
      }
    });

    it('explains a missing token and an untrusted certificate', async () => {
      const noToken = await stewardctl(['instance', 'list'], { env: { STEWARD_TOKEN: undefined } });
      expect(noToken.code).toBe(1);
      expect(noToken.stderr).toMatch(oneLine('UNAUTHENTICATED'));
      expect(noToken.stderr).toContain('STEWARD_TOKEN');
      const noCa = await stewardctl(['instance', 'list'], { env: { STEWARD_CA_FILE: undefined } });
      expect(noCa.code).toBe(1);
      expect(noCa.stderr).toMatch(oneLine('UNAVAILABLE'));
      expect(noCa.stderr).toContain('--ca-file');
    });
  });

  describe('instances and operations (no-op datastore)', () => {
    let id: string;

    beforeAll(() => {
      // Agents inherit this through the local provisioner: prepare takes a while and reports progress.
      process.env.STEWARD_NOOP_PREPARE_MS = '1500';
    });
    afterAll(() => {
      delete process.env.STEWARD_NOOP_PREPARE_MS;
    });

    it('creates an instance, shows progress while waiting, then the instance', async () => {
      const r = await stewardctl(['instance', 'create', 'cli-noop', '--datastore', NOOP, '--memory-mb', '256']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^prepare: \d+% /m);
      expect(r.stderr).toMatch(/^prepare: succeeded$/m);
      expect(r.stdout).toMatch(/^name:\s+cli-noop$/m);
      expect(r.stdout).toMatch(/^task:\s+NONE$/m);
      expect(r.stdout).toMatch(/^memory:\s+256 MB$/m);
      id = r.stdout.match(/^id:\s+(\S+)$/m)![1]!;
      expect(id).toMatch(UUID);

      const list = await stewardctl(['instance', 'list']);
      expect(list.stdout).toMatch(new RegExp(`^${id}\\s+cli-noop\\s+noop-fixture\\s+-\\s+\\S+\\s+NONE\\s+127\\.\\d+\\.\\d+\\.\\d+:\\d+\\s+connected$`, 'm'));
      const shown = json(await stewardctl(['instance', 'show', id, '--json']));
      expect(shown).toMatchObject({ id, name: 'cli-noop', task: 'INSTANCE_TASK_NONE', memoryMb: 256, agentConnected: true, agentLost: false });
      expect(shown.status).toMatch(/^DATASTORE_STATUS_/);
    });

    it('renames it; a bad name is refused naming the field and changes nothing', async () => {
      const r = await stewardctl(['instance', 'rename', id, 'cli noop ✓']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^name:\s+cli noop ✓$/m);
      for (const bad of ['', 'x'.repeat(256), 'two\nlines']) {
        const refused = await stewardctl(['instance', 'rename', id, bad]);
        expect(refused.code).toBe(1);
        expect(refused.stderr).toMatch(/^stewardctl: INVALID_ARGUMENT: name/);
      }
      const back = await stewardctl(['instance', 'rename', id, 'cli-noop']);
      expect(back.stdout).toMatch(/^name:\s+cli-noop$/m);
      expect((await stewardctl(['instance', 'rename', 'no-such-instance', 'x'])).stderr).toMatch(oneLine('NOT_FOUND'));
    });

    it("prints a new one-time enrollment token for an instance's agent", async () => {
      const r = await stewardctl(['instance', 'enrollment-token', id]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^enr_\S+\n$/);
      expect(r.stderr).toMatch(/^expires at \d{4}-\d\d-\d\dT/m);
      expect((await stewardctl(['instance', 'enrollment-token', 'no-such-instance'])).stderr).toMatch(oneLine('NOT_FOUND'));
    });

    it('restarts it, and refuses what the datastore cannot do', async () => {
      const r = await stewardctl(['instance', 'restart', id]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`instance ${id} restarted\n`);
      const users = await stewardctl(['user', 'list', id]);
      expect(users.code).toBe(1);
      expect(users.stderr).toMatch(oneLine('FAILED_PRECONDITION'));
    });

    it('--no-wait prints the operation id; operation wait/show/list follow it', async () => {
      const started = await stewardctl(['instance', 'create', 'cli-nowait', '--datastore', NOOP, '--no-wait']);
      expect(started.code, started.stderr).toBe(0);
      const opId = started.stdout.trim();
      expect(opId).toMatch(UUID);
      const waited = await stewardctl(['operation', 'wait', opId]);
      expect(waited.code, waited.stderr).toBe(0);
      expect(waited.stdout).toBe('prepare succeeded\n');
      const op = json(await stewardctl(['--json', 'operation', 'show', opId]));
      expect(op).toMatchObject({ id: opId, kind: 'prepare', state: 'OPERATION_STATE_SUCCEEDED', progress: 100, error: null });
      const ops = json<any[]>(await stewardctl(['--json', 'operation', 'list', op.instanceId]));
      expect(ops.map((o) => o.id)).toContain(opId);
      const created = json(await stewardctl(['--json', 'instance', 'create', 'cli-nowait-json', '--datastore', NOOP, '--no-wait']));
      expect(created.instance.id).toMatch(UUID);
      expect(created.operation).toMatchObject({ kind: 'prepare', state: expect.stringMatching(/^OPERATION_STATE_/) });
    });

    it('gives up waiting at --timeout, and a cancelled operation exits 1 with its error', async () => {
      process.env.STEWARD_NOOP_PREPARE_MS = '60000';
      const started = await stewardctl(['instance', 'create', 'cli-slow', '--datastore', NOOP, '--no-wait']);
      process.env.STEWARD_NOOP_PREPARE_MS = '1500';
      const opId = started.stdout.trim();
      const gaveUp = await stewardctl(['--timeout', '2', 'operation', 'wait', opId]);
      expect(gaveUp.code).toBe(1);
      expect(gaveUp.stderr).toMatch(/stewardctl: DEADLINE_EXCEEDED: gave up waiting after 2 s with prepare (PENDING|RUNNING); .*stewardctl operation wait/);
      expect(gaveUp.stderr.trimEnd().split('\n').at(-1)).toMatch(/^stewardctl: DEADLINE_EXCEEDED:/);

      const cancelled = await stewardctl(['operation', 'cancel', opId]);
      expect(cancelled.code, cancelled.stderr).toBe(0);
      expect(cancelled.stdout).toBe(`operation ${opId} (prepare) is CANCELLED\n`);
      const waited = await stewardctl(['operation', 'wait', opId]);
      expect(waited.code).toBe(1);
      expect(waited.stderr).toBe(`stewardctl: CANCELLED: prepare cancelled (operation ${opId}): cancelled by the user\n`);
      const asJson = await stewardctl(['--json', 'operation', 'wait', opId]);
      expect(asJson.code).toBe(1);
      expect(JSON.parse(asJson.stdout)).toMatchObject({ id: opId, state: 'OPERATION_STATE_CANCELLED', error: { code: 'CANCELLED' } });
    });

    it('deletes with --wait until the instance is gone', async () => {
      const r = await stewardctl(['instance', 'delete', id, '--wait']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`instance ${id} (cli-noop) deleted\n`);
      const gone = await stewardctl(['instance', 'show', id]);
      expect(gone.code).toBe(1);
      expect(gone.stderr).toBe(`stewardctl: NOT_FOUND: instance ${id} not found\n`);
    });
  });

  describe.skipIf(!!noMysql)('full flow on MySQL/MariaDB', () => {
    let id: string;
    let port: number;
    let host: string;

    const connect = (user: string, password: string) => mysql.createConnection({ host, port, user, password, connectTimeout: 10_000 });

    it('creates an instance with a database and a user, and waits until it is ready', async () => {
      const r = await stewardctl([
        'instance',
        'create',
        'cli-shop',
        '--datastore',
        'mysql',
        '--memory-mb',
        '256',
        '--database',
        'shop',
        '--user',
        'app:App-pw-1234',
      ]);
      expect(r.code, r.stderr).toBe(0);
      // Without a terminal, a prepare quicker than a second leaves no progress lines (cli/wait.ts QUIET_MS).
      expect(r.stderr === '' || /^prepare: succeeded$/m.test(r.stderr), r.stderr).toBe(true);
      expect(r.stdout).toMatch(/^task:\s+NONE$/m);
      id = r.stdout.match(/^id:\s+(\S+)$/m)![1]!;
      const [, h, p] = r.stdout.match(/^address:\s+(127\.\d+\.\d+\.\d+):(\d+)$/m)!;
      host = h!;
      port = Number(p);
      const conn = await connect('app', 'App-pw-1234');
      const [rows] = await conn.query('SELECT DATABASE() AS db, 1 AS one');
      expect(rows).toEqual([{ db: null, one: 1 }]);
      await conn.changeUser({ database: 'shop' });
      await conn.end();
    });

    it('lists the users and databases it created', async () => {
      const users = await stewardctl(['user', 'list', id]);
      expect(users.code, users.stderr).toBe(0);
      expect(users.stdout).toMatch(/^NAME\s+HOST\s+DATABASES$/m);
      expect(users.stdout).toMatch(/^app\s+%\s+shop$/m);
      const dbs = await stewardctl(['database', 'list', id]);
      expect(dbs.code, dbs.stderr).toBe(0);
      expect(dbs.stdout).toMatch(/^shop\s+\S+\s+\S+$/m);
      const asJson = json<any[]>(await stewardctl(['--json', 'user', 'list', id]));
      expect(asJson).toEqual([expect.objectContaining({ name: 'app', host: '%', access: [{ database: 'shop' }] })]);
      expect(asJson[0]).not.toHaveProperty('password');
    });

    it('creates a user whose password comes from stdin, and grants it access', async () => {
      const db = await stewardctl(['database', 'create', id, 'stats']);
      expect(db.code, db.stderr).toBe(0);
      const created = await stewardctl(['user', 'create', id, 'bob', '--password-stdin', '--database', 'stats'], { input: 'Bob-pw-from-stdin\n' });
      expect(created.code, created.stderr).toBe(0);
      expect(created.stdout).toBe(`user bob created on instance ${id}\n`);
      const granted = await stewardctl(['user', 'grant', id, 'bob', '--database', 'shop']);
      expect(granted.code, granted.stderr).toBe(0);
      const bob = json(await stewardctl(['--json', 'user', 'show', id, 'bob']));
      expect(bob.access.map((a: { database: string }) => a.database).sort()).toEqual(['shop', 'stats']);
      const conn = await connect('bob', 'Bob-pw-from-stdin'); // the trailing newline was not part of it
      await conn.end();
      const dup = await stewardctl(['user', 'create', id, 'bob', '--password', 'Other-pw-123']);
      expect(dup.code).toBe(1);
      expect(dup.stderr).toMatch(oneLine('ALREADY_EXISTS'));
    });

    it('enables root once, printing a working password with a warning', async () => {
      const r = await stewardctl(['root', 'enable', id]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain('not shown again');
      const password = r.stdout.match(/^password:\s+(\S+)$/m)![1]!;
      expect(password.length).toBeGreaterThanOrEqual(16);
      const conn = await connect('root', password);
      await conn.end();
      const show = await stewardctl(['root', 'show', id]);
      expect(show.stdout).toMatch(/^enabled:\s+yes$/m);
      expect(show.stdout).not.toContain(password);
    });

    it('backs the instance up with a progress bar, lists and shows it, restores it into a new instance, refuses and deletes', async () => {
      const c = await connect('app', 'App-pw-1234');
      await c.query('CREATE TABLE shop.notes (id INT PRIMARY KEY, body VARCHAR(64))');
      await c.query("INSERT INTO shop.notes VALUES (1, 'kept by the backup'), (2, 'ünïcödé')");
      await c.end();
      const full = await stewardctl(['backup', 'create', id, '--name', 'cli-full', '--description', 'from the CLI test']);
      expect(full.code, full.stderr).toBe(0);
      expect(full.stdout).toMatch(/^status:\s+COMPLETED$/m);
      expect(full.stdout).toMatch(/^type:\s+FULL$/m);
      expect(full.stdout).toMatch(/^checksum:\s+sha256:[0-9a-f]{64}$/m);
      const fullId = full.stdout.match(/^id:\s+(\S+)$/m)![1]!;

      const incr = json(await stewardctl(['--json', 'backup', 'create', id, '--incremental']));
      expect(incr).toMatchObject({ status: 'BACKUP_STATUS_COMPLETED', type: 'BACKUP_TYPE_INCREMENTAL', parentId: fullId });
      const list = await stewardctl(['backup', 'list', '--instance', id]);
      expect(list.stdout).toMatch(/^ID\s+NAME\s+INSTANCE\s+TYPE\s+PARENT\s+STATUS\s+SIZE\s+CREATED$/m);
      expect(list.stdout).toMatch(new RegExp(`^${fullId}\\s+cli-full\\s+${id}\\s+FULL\\s+-\\s+COMPLETED\\s+[\\d.]+ (KiB|MiB)`, 'm'));
      expect(json<any[]>(await stewardctl(['--json', 'backup', 'list'])).map((b) => b.id)).toEqual([fullId, incr.id]);
      const shown = await stewardctl(['backup', 'show', fullId]);
      expect(shown.stdout).toMatch(/^description:\s+from the CLI test$/m);

      const refused = await stewardctl(['backup', 'delete', fullId]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(oneLine('FAILED_PRECONDITION'));
      expect(refused.stderr).toContain(incr.id);
      const bad = await stewardctl(['instance', 'create', 'cli-bad', '--datastore', 'mysql', '--backup', fullId, '--database', 'x']);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(oneLine('INVALID_ARGUMENT'));
      expect(bad.stderr).toContain('databases');

      const restored = await stewardctl(['instance', 'create', 'cli-restored', '--datastore', 'mysql', '--memory-mb', '256', '--backup', incr.id]);
      expect(restored.code, restored.stderr).toBe(0);
      const [, rh, rp] = restored.stdout.match(/^address:\s+(127\.\d+\.\d+\.\d+):(\d+)$/m)!;
      const rc = await mysql.createConnection({ host: rh, port: Number(rp), user: 'app', password: 'App-pw-1234' });
      const [rows] = await rc.query('SELECT id, body FROM shop.notes ORDER BY id');
      expect(rows).toEqual([
        { id: 1, body: 'kept by the backup' },
        { id: 2, body: 'ünïcödé' },
      ]);
      await rc.end();
      const restoredId = restored.stdout.match(/^id:\s+(\S+)$/m)![1]!;
      expect((await stewardctl(['instance', 'delete', restoredId, '--wait'])).code).toBe(0);

      const deleted = await stewardctl(['backup', 'delete', fullId, '--chain']);
      expect(deleted.code, deleted.stderr).toBe(0);
      expect(deleted.stdout).toBe(`backup ${incr.id} deleted\nbackup ${fullId} deleted\n`);
    });

    it('makes a replica, shows roles and lag, switches over and back, and refuses what does not fit', async () => {
      const made = await stewardctl(['instance', 'create', 'cli-ro', '--replica-of', id]);
      expect(made.code, made.stderr).toBe(0);
      expect(made.stdout).toMatch(/^role:\s+replica$/m);
      expect(made.stdout).toMatch(new RegExp(`^replica of:\\s+${id}$`, 'm'));
      const replica = made.stdout.match(/^id:\s+(\S+)$/m)![1]!;
      const setId = made.stdout.match(/^replica set:\s+(\S+)$/m)![1]!;
      const list = await stewardctl(['instance', 'list']);
      expect(list.stdout).toMatch(/^ID\s+NAME\s+DATASTORE\s+ROLE\s+STATUS/m);
      expect(list.stdout).toMatch(new RegExp(`^${id}\\s+cli-shop\\s+mysql\\s+primary\\s`, 'm'));
      const shown = await stewardctl(['instance', 'show', replica]);
      expect(shown.stdout).toMatch(/^lag:\s+\d+ transactions, /m);
      const set = await stewardctl(['replica-set', 'show', setId]);
      expect(set.stdout).toMatch(new RegExp(`^primary:\\s+${id}$`, 'm'));
      expect(set.stdout).toMatch(/^INSTANCE\s+ROLE\s+SOURCE\s+ADDRESS\s+POSITION\s+LAG\s+STREAMING\s+NOTE$/m);

      const notReplica = await stewardctl(['instance', 'promote', id]);
      expect(notReplica.code).toBe(1);
      expect(notReplica.stderr).toMatch(oneLine('FAILED_PRECONDITION'));
      const withReplicas = await stewardctl(['instance', 'delete', id]);
      expect(withReplicas.code).toBe(1);
      expect(withReplicas.stderr).toContain('detach_replicas');
      const usage = await stewardctl(['replica-set', 'update', setId, '--failover', 'sometimes']);
      expect(usage.code).toBe(2);

      const over = await stewardctl(['instance', 'promote', replica]);
      expect(over.code, over.stderr).toBe(0);
      expect(over.stdout).toMatch(new RegExp(`^primary:\\s+${replica}$`, 'm'));
      expect(over.stdout).toMatch(/^term:\s+2$/m);
      const back = json(await stewardctl(['--json', 'instance', 'promote', id]));
      expect(back).toMatchObject({ primaryId: id, term: 3, task: 'REPLICA_SET_TASK_NONE' });
      const manual = await stewardctl(['replica-set', 'update', setId, '--failover', 'manual', '--max-lag', '50']);
      expect(manual.code, manual.stderr).toBe(0);
      expect(manual.stdout).toMatch(/^failover:\s+manual$/m);
      expect(manual.stdout).toMatch(/^max lag:\s+50$/m);
      const detached = await stewardctl(['instance', 'detach', replica]);
      expect(detached.code, detached.stderr).toBe(0);
      expect((await stewardctl(['instance', 'delete', replica, '--wait'])).code).toBe(0);
    });

    it('configuration groups: defaults, create, attach with a restart pending, a bad value refused, detach, delete', async () => {
      const defaults = await stewardctl(['configuration', 'defaults', 'mysql', '--memory-mb', '256']);
      expect(defaults.code, defaults.stderr).toBe(0);
      expect(defaults.stdout).toMatch(/^PARAMETER\s+DEFAULT\s+ALLOWED\s+UNIT\s+RESTART$/m);
      expect(defaults.stdout).toMatch(/^max_connections\s+64\s+10\.\.100000\s+connections\s+no$/m);
      const bad = await stewardctl(['configuration', 'create', 'bad', '--datastore', 'mysql', '--set', 'max_connections=5']);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(oneLine('INVALID_ARGUMENT'));
      expect(bad.stderr).toContain('values.max_connections: must be an integer from 10 to 100000');
      const usage = await stewardctl(['configuration', 'create', 'bad', '--datastore', 'mysql', '--set', 'max_connections']);
      expect(usage.code).toBe(2);
      const group = json(
        await stewardctl([
          '--json',
          'configuration',
          'create',
          'busy',
          '--datastore',
          'mysql',
          '--set',
          'max_connections=90',
          '--set',
          'performance_schema=on',
        ]),
      );
      expect(group.values).toEqual({ max_connections: '90', performance_schema: 'on' });
      const attached = await stewardctl(['configuration', 'attach', group.id, id]);
      expect(attached.code, attached.stderr).toBe(0);
      expect(attached.stdout).toBe(`configuration group ${group.id} attached to instance ${id}; restart the instance for performance_schema\n`);
      const shown = await stewardctl(['instance', 'show', id]);
      expect(shown.stdout).toMatch(/^status:\s+RESTART_REQUIRED$/m);
      expect(shown.stdout).toMatch(/^restart required for:\s+performance_schema$/m);
      const c = await connect('app', 'App-pw-1234');
      expect((await c.query('SELECT @@GLOBAL.max_connections AS n'))[0]).toEqual([{ n: 90 }]);
      await c.end();
      const refused = await stewardctl(['configuration', 'delete', group.id]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(oneLine('FAILED_PRECONDITION'));
      const detached = await stewardctl(['configuration', 'detach', id]);
      expect(detached.code, detached.stderr).toBe(0);
      expect((await stewardctl(['configuration', 'delete', group.id])).stdout).toBe(`configuration group ${group.id} deleted\n`);
    });

    it('deletes the instance and waits until it is gone', async () => {
      const r = await stewardctl(['instance', 'delete', id, '--wait']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`instance ${id} (cli-shop) deleted\n`);
      const list = json<any[]>(await stewardctl(['--json', 'instance', 'list']));
      expect(list.map((i) => i.id)).not.toContain(id);
      await expect(connect('app', 'App-pw-1234')).rejects.toThrow();
    });
  });
});
