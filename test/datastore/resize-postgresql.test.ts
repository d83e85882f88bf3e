// Memory resize on a real PostgreSQL started by the agent's process backend:
// one server for the file, tests in order, each building on the last. Commands
// go through the operations table as the agent runs them; what the server runs
// with is read back from pg_settings in fresh sessions, how often it started
// from its own log. The agent has a certificate to give (a self-signed one
// made here), so the tests also show that a resize reuses it.
import { execFile } from 'node:child_process';
import { copyFile, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TlsFiles } from '../../managers/sdk/contract.js';
import { payload, resultOf } from '../../managers/sdk/operations/payload.js';
import type { ServiceSpec } from '../../managers/sdk/service-control.js';
import { DatastoreStatus } from '../../managers/sdk/types.js';
import { sameValue } from '../../managers/postgresql/group-config.js';
import { postgresqlIdentity } from '../../managers/postgresql/identity.js';
import { PostgresqlManager } from '../../managers/postgresql/manager.js';
import { POSTGRESQL_PARAMETERS, postgresqlParameters } from '../../managers/postgresql/parameters.js';
import { postgresqlAdmin, postgresqlUnavailableReason, testOp, type PostgresqlInstance } from '../fixtures/postgresql-instance.js';
import { createManagerInstance } from '../fixtures/manager-instance.js';
import { failure } from '../fixtures/datastore-assertions.js';
import { serverProcesses } from '../fixtures/datastore-lifecycle.js';
import { describeUnavailable, prepareRequest } from '../fixtures/datastore-suite.js';

const exec = promisify(execFile);

/** What tuning() sets: the settings a resize must change. */
const MEMORY = ['shared_buffers', 'effective_cache_size', 'max_connections', 'work_mem', 'maintenance_work_mem'];
const defaultsOf = (memoryMb: number) => postgresqlParameters.defaults(memoryMb);
const ROWS = 500;
/** Resizing to this fails to start for real: its shared_buffers (a quarter, 256 GB) is refused by the kernel. */
const TOO_BIG_MB = 1_048_576;

/**
 * Why the kernel would hand the server 256 GB of shared memory here (then the
 * failed-restart test cannot make the restart fail this way), or undefined.
 */
async function hugeAllocationAllowed(): Promise<string | undefined> {
  const overcommit = (await readFile('/proc/sys/vm/overcommit_memory', 'utf8')).trim();
  if (overcommit === '1') return 'vm.overcommit_memory = 1 grants any allocation';
  const meminfo = await readFile('/proc/meminfo', 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(meminfo)?.[1] ?? 0);
  if (kb('MemTotal') + kb('SwapTotal') >= (TOO_BIG_MB / 4) * 1024) return 'this machine has 256 GB of memory and swap';
  return undefined;
}
const cannotFail = await hugeAllocationAllowed();

/** A certificate the server accepts, made with openssl, counted so that a re-issue shows. */
function selfSignedIssuer(): { issue: (dir: string) => Promise<TlsFiles>; count: () => number } {
  let issued = 0;
  return {
    count: () => issued,
    async issue(dir) {
      issued++;
      const files = { certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key'), caFile: join(dir, 'ca.crt') };
      await exec('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        files.keyFile,
        '-out',
        files.certFile,
        '-subj',
        '/CN=127.0.0.1',
        '-days',
        '2',
      ]);
      await copyFile(files.certFile, files.caFile);
      return files;
    },
  };
}

const reason = await postgresqlUnavailableReason();

if (reason) {
  describeUnavailable('postgresql resize', 'needs a PostgreSQL server installed', 'postgresql resize tests', reason);
} else {
  describe('postgresql memory resize (process backend)', () => {
    let inst: PostgresqlInstance;
    let spec: ServiceSpec;
    const issuer = selfSignedIssuer();
    const files = () => ({
      conf: join(inst.ctx.configDir, 'postgresql.conf'),
      group: join(inst.ctx.configDir, 'configuration-group.conf'),
      state: join(inst.ctx.configDir, 'configuration-group.json'),
      settings: join(inst.ctx.configDir, 'instance.json'),
      cert: join(inst.ctx.configDir, 'tls', 'server.crt'),
    });

    const admin = <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => postgresqlAdmin(inst, fn);

    const show = (name: string): Promise<string> => admin(async (c) => (await c.query(`SHOW ${name}`)).rows[0][name]);

    /** Names (of `names`) whose live value (pg_settings, a fresh session) is not `values`'. */
    const differing = (values: Record<string, string>, names = Object.keys(values)): Promise<string[]> =>
      admin(async (c) => {
        const rows = (await c.query('SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1)', [names])).rows;
        const live = Object.fromEntries(rows.map((r) => [r.name as string, r]));
        return names.filter((n) => !sameValue(POSTGRESQL_PARAMETERS.find((r) => r.name === n)!, values[n]!, live[n]));
      });

    const pending = (): Promise<string[]> =>
      admin(async (c) => (await c.query('SELECT name FROM pg_settings WHERE pending_restart ORDER BY name')).rows.map((r) => r.name as string));

    const rowCount = (): Promise<number> => admin(async (c) => Number((await c.query('SELECT count(*) AS n FROM kept')).rows[0].n));

    /** How often the server has come up: its own log says so once per start. */
    async function starts(): Promise<number> {
      const dir = join(inst.ctx.logDir, 'postgresql');
      let n = 0;
      for (const f of await readdir(dir)) n += (await readFile(join(dir, f), 'utf8')).split('database system is ready to accept connections').length - 1;
      return n;
    }

    const pid = async (): Promise<number | undefined> => inst.ctx.service.pid(spec);
    const recordedMemory = async (): Promise<number> => JSON.parse(await readFile(files().settings, 'utf8')).memoryMb;
    const confLines = async (): Promise<string[]> => (await readFile(files().conf, 'utf8')).split('\n');

    const resize = (memoryMb: number, oldMemoryMb: number) => inst.run(payload('resize', { memoryMb, oldMemoryMb }));

    async function apply(values: Record<string, string>) {
      const r = resultOf(await inst.run(payload('applyConfiguration', { values })), 'configuration');
      if (!r) throw new Error('apply_configuration answered no configuration');
      return r;
    }

    const snapshot = async () => Promise.all([files().conf, files().group, files().state, files().settings, files().cert].map((f) => readFile(f)));

    beforeAll(async () => {
      inst = await createManagerInstance({
        prefix: 'steward-pgrs-',
        memoryMb: 256,
        identity: postgresqlIdentity,
        create: (ctx) => new PostgresqlManager({ ...ctx, issueTlsCertificate: issuer.issue }),
      });
      spec = await inst.manager.serviceSpec();
      await inst.agent.prepare(prepareRequest({ memoryMb: 256 }), testOp());
      await admin(async (c) => {
        await c.query('CREATE TABLE kept (id int PRIMARY KEY, note text NOT NULL)');
        await c.query(`INSERT INTO kept SELECT g, 'row ' || g FROM generate_series(1, ${ROWS}) g`);
      });
    });

    afterAll(async () => {
      await inst?.teardown();
      if (spec) expect(serverProcesses(spec)).toEqual([]);
    });

    it('prepare renders the size it was given, with TLS on', async () => {
      expect(await recordedMemory()).toBe(256);
      expect(await differing(defaultsOf(256), MEMORY)).toEqual([]);
      expect(await show('ssl')).toBe('on');
      expect(issuer.count()).toBe(1);
    });

    it('a resize to a larger size renders its settings, restarts once and keeps the data and the certificate', async () => {
      const [pidBefore, startsBefore, certBefore] = [await pid(), await starts(), await readFile(files().cert)];
      const op = testOp();
      await inst.run(payload('resize', { memoryMb: 1024, oldMemoryMb: 256 }), op);
      expect(op.steps.at(-1)?.percent).toBe(100);
      expect(op.steps[0]?.message).toBe('resizing from 256 MB to 1024 MB');

      // The server runs with 1024 MB's settings: a quarter for shared_buffers, and so on.
      expect(await differing(defaultsOf(1024), MEMORY)).toEqual([]);
      expect([await show('shared_buffers'), await show('effective_cache_size'), await show('max_connections')]).toEqual(['256MB', '768MB', '128']);
      expect(await pending()).toEqual([]);
      expect(await rowCount()).toBe(ROWS);
      // One restart: a new postmaster, and the log says it came up exactly once more.
      expect(await pid()).not.toBe(pidBefore);
      expect(await starts()).toBe(startsBefore + 1);
      expect(serverProcesses(spec)).toEqual([await pid()]);
      // Recorded for every later render; postgresql.conf rendered again with the same certificate, not a new one.
      expect(await recordedMemory()).toBe(1024);
      expect(await confLines()).toEqual(expect.arrayContaining(["shared_buffers = '256MB'", "effective_cache_size = '768MB'"]));
      expect(issuer.count()).toBe(1);
      expect(await readFile(files().cert)).toEqual(certBefore);
      expect(await show('ssl')).toBe('on');
    });

    it('a later configuration apply, a restart and an agent restart keep the new size', async () => {
      expect(await apply({ work_mem: '8192' })).toEqual({ values: { work_mem: '8192' }, pendingRestart: [] });
      expect(await differing({ ...defaultsOf(1024), work_mem: '8192' }, MEMORY)).toEqual([]);
      await inst.manager.restart(testOp());
      expect(await differing({ ...defaultsOf(1024), work_mem: '8192' })).toEqual([]);

      // A new agent process whose own config still says 256 MB renders what was recorded.
      const { manager } = inst.reopen();
      await manager.configuration.apply({}, testOp());
      expect(await differing(defaultsOf(1024))).toEqual([]);
      expect(await pending()).toEqual([]);
      expect(await confLines()).toEqual(expect.arrayContaining(["shared_buffers = '256MB'", 'max_connections = 128']));
      expect(await recordedMemory()).toBe(1024);
      expect(issuer.count()).toBe(1);
    });

    it('a group that pins more than a smaller size allows makes the resize refuse, naming it, and nothing changes', async () => {
      // 512 MB fits 1024 MB (at most 768); it would not fit 512 MB (at most 384).
      expect((await apply({ shared_buffers: '512' })).pendingRestart).toEqual(['shared_buffers']);
      await inst.manager.restart(testOp());
      expect(await show('shared_buffers')).toBe('512MB');
      const [before, pidBefore, startsBefore] = [await snapshot(), await pid(), await starts()];

      const err = await failure(resize(512, 1024));
      expect(err.code, err.message).toBe('FAILED_PRECONDITION');
      expect(err.message).toContain('shared_buffers = 512MB is more than 75% of 512 MB (384MB)');

      expect(await snapshot()).toEqual(before);
      expect([await pid(), await starts()]).toEqual([pidBefore, startsBefore]);
      expect(await differing({ ...defaultsOf(1024), shared_buffers: '512' })).toEqual([]);
      expect(await recordedMemory()).toBe(1024);

      // Without the group the same resize goes through (the group's own restart comes with it).
      await apply({});
      await resize(512, 1024);
      expect(await differing(defaultsOf(512))).toEqual([]);
      expect(await pending()).toEqual([]);
      expect(await rowCount()).toBe(ROWS);
    });

    it.skipIf(cannotFail)(
      `a resize whose restart fails for real comes back at the old size, serving${cannotFail ? ` (skipped: ${cannotFail})` : ''}`,
      async () => {
        // 1 TB: a quarter of it as shared_buffers is more than this machine has, and the kernel refuses the server's shared memory.
        const startsBefore = await starts();
        const err = await failure(resize(TOO_BIG_MB, 512));
        expect(err.message).toContain('could not map anonymous shared memory');

        expect(await recordedMemory()).toBe(512);
        expect(await confLines()).toEqual(expect.arrayContaining(["shared_buffers = '128MB'"]));
        expect(await differing(defaultsOf(512))).toEqual([]);
        expect(await rowCount()).toBe(ROWS);
        expect(await show('ssl')).toBe('on');
        expect(serverProcesses(spec)).toEqual([await pid()]);
        // The failed start never came up; the old size's did, once.
        expect(await starts()).toBe(startsBefore + 1);
        expect((await inst.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);
      },
    );

    it('a certificate recorded before settings kept it is still the one rendered', async () => {
      // instance.json written before the certificate was recorded: the files postgresql.conf names are reused.
      const settings = JSON.parse(await readFile(files().settings, 'utf8'));
      delete settings.tls;
      await writeFile(files().settings, JSON.stringify(settings));
      await resize(768, 512);
      expect(await confLines()).toEqual(expect.arrayContaining([`ssl_cert_file = '${files().cert}'`, "shared_buffers = '192MB'"]));
      expect(await show('ssl')).toBe('on');
      expect(await differing(defaultsOf(768))).toEqual([]);
      expect(issuer.count()).toBe(1);
    });
  });
}
