// Datastore logs on a real PostgreSQL started by the agent's process backend:
// one prepared server for the file, tests in order, each building on the last.
// Commands go through the operations table as the agent runs them (checked,
// then the manager). The server log is the collector's newest file; the slow
// statement log is the same file with log_min_duration_statement switched on.
// A password the agent learned (a user it created) is sent in a statement and
// must come back redacted, in `show` and in a published copy, which is
// fetched from a filesystem store, checked against its size and checksum and
// decrypted with the wrapping key the test granted.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataKeyOf, fetchVerified, openVerified } from '../../managers/sdk/backup/pipeline.js';
import { openStorage } from '../../managers/sdk/backup/storage/open.js';
import { checkCommand } from '../../managers/sdk/operations/commands.js';
import { payload, resultOf, type CommandPayload } from '../../managers/sdk/operations/payload.js';
import type { ServiceSpec } from '../../managers/sdk/service-control.js';
import { REDACTED } from '../../managers/sdk/redact.js';
import { postgresqlIdentity } from '../../managers/postgresql/identity.js';
import { ADMIN_SECRET } from '../../managers/postgresql/paths.js';
import { BackupType, type BackupArtifact, type BackupKeyGrant, type BackupStorage } from '../../proto/gen/steward/v1/backups.js';
import type { GuestLog, PublishedLogArtifact, PublishLogCommand } from '../../proto/gen/steward/v1/log-types.js';
import { tempStore } from '../fixtures/backup-storage.js';
import { failure, refusal } from '../fixtures/datastore-assertions.js';
import { serverProcesses, until } from '../fixtures/datastore-lifecycle.js';
import { describeUnavailable, prepareRequest } from '../fixtures/datastore-suite.js';
import { createPostgresqlInstance, postgresqlUnavailableReason, testOp, type PostgresqlInstance } from '../fixtures/postgresql-instance.js';

/** The password of a user created through the agent: from then on a secret the agent knows. */
const SECRET = 'Pg-Logs-Secret-Pw-5521';
/** Copies of the secret on one long log line. */
const LONG_COPIES = 20_000;
const reason = await postgresqlUnavailableReason();

if (reason) {
  describeUnavailable('postgresql datastore logs', 'needs a PostgreSQL server installed', 'postgresql log tests', reason);
} else {
  describe('postgresql datastore logs (process backend)', () => {
    let inst: PostgresqlInstance;
    let spec: ServiceSpec;
    let store: { root: string; storage: BackupStorage };
    /** The controller's part: a 32-byte wrapping key per publish (one for the file here). */
    const grant: BackupKeyGrant = { keyRef: 'test-master', wrappingKey: randomBytes(32) };

    async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
      const password = await inst.ctx.secrets.get(ADMIN_SECRET);
      const c = new pg.Client({ host: inst.ctx.runDir, port: inst.port, user: 'steward_admin', password, database: 'postgres' });
      await c.connect();
      try {
        return await fn(c);
      } finally {
        await c.end();
      }
    }
    const sql = (...statements: string[]) =>
      admin(async (c) => {
        for (const s of statements) await c.query(s);
      });
    const show = async (name: string, lines = 1000) => {
      const r = resultOf(await inst.run(payload('showLog', { name, lines, thresholdMs: 0 })), 'logTail');
      if (!r) throw new Error('show_log answered no tail');
      return r;
    };
    const list = async (): Promise<GuestLog[]> => resultOf(await inst.run(payload('listLogs', {})), 'logs')?.logs ?? [];
    const byName = async (name: string) => (await list()).find((l) => l.name === name);
    const switched = async (kind: 'enableLog' | 'disableLog', name: string, thresholdMs = 0) =>
      resultOf(await inst.run(payload(kind, { name, thresholdMs, lines: 0 })), 'logs')?.logs[0];
    const publishCmd = (over: Partial<PublishLogCommand> = {}): PublishLogCommand => ({
      name: 'slow_query',
      publishId: randomUUID(),
      storage: store.storage,
      key: grant,
      compression: '',
      ...over,
    });
    const publish = async (cmd: PublishLogCommand, op = testOp()) => {
      const r = resultOf(await inst.run(payload('publishLog', cmd), op), 'publishedLog');
      if (!r) throw new Error('publish_log answered no artifact');
      return r;
    };
    /** Waits until the collector has written `marker` (it writes through a pipe, a moment after the statement). */
    const logged = (marker: string) =>
      until(
        `${marker} in the server log`,
        async () => (await show('postgresql')).text,
        (t) => t.includes(marker),
        10_000,
      );
    /** A line the server always logs, whatever the statement settings: once it is in, whatever came before it is too. */
    const sentinel = async (marker: string) => {
      await sql(`DO $$ BEGIN RAISE LOG '${marker}'; END $$`);
      return logged(marker);
    };
    /** The server log's file as it is on disk, unredacted. */
    const rawLog = () => {
      const dir = inst.manager.paths.serverLogDir;
      const files = readdirSync(dir).filter((n) => /^postgresql-[A-Za-z]{3}\.log$/.test(n));
      expect(files).toHaveLength(1); // one weekday: the test does not run across midnight
      return readFileSync(join(dir, files[0]!), 'utf8');
    };
    /** Everything in the store, temporaries included. */
    const stored = () => readdirSync(store.root, { recursive: true }).map(String).sort();

    beforeAll(async () => {
      inst = await createPostgresqlInstance();
      spec = await inst.manager.serviceSpec();
      store = tempStore('steward-pglogs-');
      await inst.agent.prepare(prepareRequest(), testOp());
    });

    afterAll(async () => {
      await inst?.teardown();
      if (store) rmSync(store.root, { recursive: true, force: true });
      if (spec) expect(serverProcesses(spec)).toEqual([]);
    });

    it('lists the server log always on (and written to) and the slow query log optional and off', async () => {
      const logs = await list();
      expect(logs.map((l) => l.name)).toEqual(['postgresql', 'slow_query']);
      expect(logs[0]).toMatchObject({ optional: false, enabled: true, thresholdMs: 0, published: 0 });
      expect(logs[0]!.size).toBeGreaterThan(0);
      expect(logs[1]).toMatchObject({ optional: true, enabled: false, thresholdMs: 0, published: 0 });
      // The same file: the slow statements are written to the server log.
      expect(logs[1]!.size).toBe(logs[0]!.size);
      const all = await show('postgresql');
      expect(all.text).toMatch(/database system is ready to accept connections/);
      expect(all.size).toBe(logs[0]!.size);
      // The end of it, as many lines as asked for.
      const two = await show('postgresql', 2);
      expect(two.text.split('\n')).toHaveLength(2);
      expect(two.truncated).toBe(true);
      expect(all.text.endsWith(two.text)).toBe(true);
    });

    it('slow_query enabled with threshold_ms 200 logs a slow statement at once, not a fast one', async () => {
      const on = await switched('enableLog', 'slow_query', 200);
      expect(on).toMatchObject({ name: 'slow_query', optional: true, enabled: true, thresholdMs: 200 });
      expect(await byName('slow_query')).toMatchObject({ enabled: true, thresholdMs: 200 });
      // Live on the server (no restart): a fresh session runs with it.
      expect(await admin(async (c) => (await c.query('SHOW log_min_duration_statement')).rows[0].log_min_duration_statement)).toBe('200ms');
      await sql("SELECT 'fast_marker'", "SELECT pg_sleep(0.4), 'slow_marker'");
      const text = (await logged('slow_marker')).split('\n');
      expect(text.filter((l) => l.includes('slow_marker'))).toEqual([
        expect.stringMatching(/steward_admin@postgres LOG: {2}duration: \d+\.\d+ ms {2}statement: SELECT pg_sleep\(0\.4\), 'slow_marker'$/),
      ]);
      const duration = Number(/duration: (\d+\.\d+) ms/.exec(text.find((l) => l.includes('slow_marker'))!)![1]);
      expect(duration).toBeGreaterThanOrEqual(400);
      // The fast statement ran first in the same session: had it been logged, it would be there already.
      expect(text.filter((l) => /duration:.*fast_marker/.test(l))).toEqual([]);
      expect(text.join('\n')).not.toContain('fast_marker');
      // slow_query is the server log: the same lines.
      const slow = await show('slow_query');
      expect(slow.text).toContain("statement: SELECT pg_sleep(0.4), 'slow_marker'");
      expect((await show('postgresql')).text.endsWith((await show('slow_query', 5)).text)).toBe(true);
    });

    it('a password the agent learned through createUsers comes back [REDACTED] in show', async () => {
      await inst.run(payload('createUsers', { users: [{ name: 'log_reader', host: '', password: SECRET, access: [], permissions: '' }] }));
      await sql(`SELECT pg_sleep(0.3), '${SECRET}' AS leaked, 'secret_marker'`);
      const text = await logged('secret_marker');
      const line = text.split('\n').find((l) => l.includes('secret_marker'))!;
      expect(line).toContain(`statement: SELECT pg_sleep(0.3), '${REDACTED}' AS leaked, 'secret_marker'`);
      expect(text).not.toContain(SECRET);
      expect((await show('slow_query')).text).not.toContain(SECRET);
      // The file itself has it: it is the agent that redacts.
      expect(rawLog()).toContain(`'${SECRET}' AS leaked`);
    });

    it('a secret in a statement longer than anything read at once is still redacted whole', async () => {
      // 20,000 copies back to back (~450 kB on one line): the copies straddle every 64 KiB read of the file.
      await sql(`SELECT pg_sleep(0.3), '${SECRET.repeat(LONG_COPIES)}' AS long_marker`);
      const line = (await logged('long_marker')).split('\n').find((l) => l.includes('long_marker'))!;
      expect(line).toContain(`statement: SELECT pg_sleep(0.3), '${REDACTED.repeat(LONG_COPIES)}' AS long_marker`);
    });

    it('publish stores a redacted, encrypted copy that fetches, verifies and decrypts to the log', async () => {
      const op = testOp();
      const cmd = publishCmd({ name: 'postgresql' });
      const a = await publish(cmd, op);
      const raw = rawLog(); // read after: the copy is a prefix of what the file holds now
      expect(a).toMatchObject({ publishId: cmd.publishId, name: 'postgresql', compression: 'zstd', keyRef: 'test-master' });
      expect(a.checksum).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(a.location).toBe(`file://${store.root}/${inst.ctx.instanceId}/${cmd.publishId}/data`);
      expect(op.steps.at(-1)).toMatchObject({ percent: 100 });
      // Only the data object, nothing half-written beside it.
      expect(stored()).toEqual([inst.ctx.instanceId, `${inst.ctx.instanceId}/${cmd.publishId}`, `${inst.ctx.instanceId}/${cmd.publishId}/data`]);
      const bytes = readFileSync(join(store.root, inst.ctx.instanceId, cmd.publishId, 'data'));
      expect(bytes.length).toBe(a.size);
      expect(bytes.includes('secret_marker')).toBe(false); // encrypted at rest

      const text = await decrypted(a, grant);
      expect(Buffer.byteLength(text)).toBe(a.rawSize);
      expect(text).toContain("statement: SELECT pg_sleep(0.4), 'slow_marker'");
      expect(text).toContain(`'${REDACTED}' AS leaked, 'secret_marker'`);
      expect(text).not.toContain(SECRET);
      // Exactly the file up to where it ended when the publish started, the secret redacted.
      expect(text.endsWith('\n')).toBe(true);
      expect(raw.split(SECRET).join(REDACTED).startsWith(text)).toBe(true);
      expect(text.length).toBeGreaterThan(raw.indexOf('secret_marker'));
      // The long line too: published in 64 KiB reads, every copy of the secret still whole, so redacted.
      expect(text).toContain(`statement: SELECT pg_sleep(0.3), '${REDACTED.repeat(LONG_COPIES)}' AS long_marker`);

      // Another key cannot open it.
      const other: BackupKeyGrant = { keyRef: 'test-master', wrappingKey: randomBytes(32) };
      expect(() => dataKeyOf(artifactOf(a), other)).toThrow();

      // Uncompressed, the same text.
      const plain = await publish(publishCmd({ name: 'slow_query', compression: 'none' }));
      expect(plain).toMatchObject({ name: 'slow_query', compression: 'none' });
      const plainText = await decrypted(plain, grant);
      expect(plainText.startsWith(text)).toBe(true);
      expect(plainText).not.toContain(SECRET);
      rmSync(join(store.root, inst.ctx.instanceId), { recursive: true });
    });

    it('a failed publish leaves nothing in storage', async () => {
      const id = inst.ctx.instanceId;
      // A key of the wrong size is refused before anything is written.
      for (const wrappingKey of [randomBytes(16), randomBytes(33), Buffer.alloc(0)]) {
        const err = await failure(publish(publishCmd({ key: { keyRef: 'test-master', wrappingKey } })));
        expect([err.code, err.field]).toEqual(['INVALID_ARGUMENT', 'key.wrapping_key']);
      }
      const noKey = await failure(publish(publishCmd({ key: undefined })));
      expect([noKey.code, noKey.field]).toEqual(['INVALID_ARGUMENT', 'key.wrapping_key']);
      expect(stored()).toEqual([]);

      // The storage cannot be written where the copy goes (the instance's directory is a file).
      writeFileSync(join(store.root, id), 'not a directory');
      // (The error says only "The operation was aborted": saveStream reports the storage's failure as its own abort.)
      await failure(publish(publishCmd()));
      expect(stored()).toEqual([id]);
      rmSync(join(store.root, id));

      // The whole copy is written, then cannot be put in place: the partial object goes with its directory.
      const blocked = randomUUID();
      mkdirSync(join(store.root, id, blocked, 'data', 'in-the-way'), { recursive: true });
      const inTheWay = await failure(publish(publishCmd({ publishId: blocked })));
      expect(inTheWay.message).toMatch(/EISDIR|ENOTEMPTY|EEXIST/);
      expect(stored()).toEqual([id]);

      // Cancelled while it runs.
      const abort = new AbortController();
      abort.abort(new Error('cancelled by the test'));
      const cancelled = await failure(publish(publishCmd(), testOp(abort.signal)));
      expect(cancelled.message).toMatch(/cancelled by the test|abort/i);
      expect(stored().filter((p) => p !== id)).toEqual([]);

      // A storage the command names badly is refused as such.
      const relative = await failure(publish(publishCmd({ storage: { ...store.storage, path: 'relative/dir' } })));
      expect([relative.code, relative.field]).toEqual(['INVALID_ARGUMENT', 'storage.path']);
      const kind = await failure(publish(publishCmd({ storage: { ...store.storage, kind: 'ftp' } })));
      expect([kind.code, kind.field]).toEqual(['INVALID_ARGUMENT', 'storage.kind']);
      expect(stored().filter((p) => p !== id)).toEqual([]);
      rmSync(join(store.root, id), { recursive: true, force: true });
    });

    it('disable turns the slow log off at once: a later slow statement is not logged', async () => {
      const off = await switched('disableLog', 'slow_query');
      expect(off).toMatchObject({ name: 'slow_query', enabled: false, thresholdMs: 0 });
      expect(await admin(async (c) => (await c.query('SHOW log_min_duration_statement')).rows[0].log_min_duration_statement)).toBe('-1');
      await sql("SELECT pg_sleep(0.4), 'after_disable_marker'");
      const text = await sentinel('disable_sentinel');
      expect(text).not.toContain('after_disable_marker');
      expect(await byName('postgresql')).toMatchObject({ enabled: true });
    });

    it('refuses hostile input through checkCommand, naming the field, and changes nothing', async () => {
      const state = () => readFileSync(join(inst.ctx.configDir, 'configuration-group.json'), 'utf8');
      const before = { state: state(), logs: await list(), stored: stored() };
      const log = (name: string, over: { lines?: number; thresholdMs?: number } = {}) => ({ name, lines: 0, thresholdMs: 0, ...over });
      const names = [
        '../../etc/passwd',
        '..',
        'slow_query/../postgresql',
        "slow_query'; DROP TABLE x; --",
        'slow_query"',
        'ｓｌｏｗ_query',
        'slow_quéry',
        'slow_query\n',
        'slow query',
        'Slow_query',
        '_slow',
        '',
        'x'.repeat(33),
        'x'.repeat(5000),
      ];
      const cases: Array<[string, CommandPayload, string]> = [];
      for (const name of names) {
        const label = JSON.stringify(name).slice(0, 40);
        cases.push([`show ${label}`, payload('showLog', log(name)), 'name']);
        cases.push([`enable ${label}`, payload('enableLog', log(name, { thresholdMs: 200 })), 'name']);
        cases.push([`disable ${label}`, payload('disableLog', log(name)), 'name']);
        cases.push([`publish ${label}`, payload('publishLog', publishCmd({ name })), 'name']);
      }
      cases.push(
        ['show 1001 lines', payload('showLog', log('postgresql', { lines: 1001 })), 'lines'],
        ['show 2^31 lines', payload('showLog', log('postgresql', { lines: 2 ** 31 })), 'lines'],
        ['enable over an hour', payload('enableLog', log('slow_query', { thresholdMs: 3_600_001 })), 'threshold_ms'],
        ['enable 2^32-1 ms', payload('enableLog', log('slow_query', { thresholdMs: 2 ** 32 - 1 })), 'threshold_ms'],
        ['publish id not a UUID', payload('publishLog', publishCmd({ publishId: '../../../../tmp/x-0000-0000-0000-000000000000' })), 'publish_id'],
        ['publish id empty', payload('publishLog', publishCmd({ publishId: '' })), 'publish_id'],
        ['publish 31-byte key', payload('publishLog', publishCmd({ key: { keyRef: 'k', wrappingKey: randomBytes(31) } })), 'key.wrapping_key'],
        ['publish compression', payload('publishLog', publishCmd({ compression: 'zstd; rm -rf /' })), 'compression'],
      );
      for (const [label, p, field] of cases) {
        // The check alone (what the controller runs before recording), then the agent's way (check, then the manager).
        expect(refusal(() => checkCommand(p, postgresqlIdentity)).field, label).toBe(field);
        const err = await failure(inst.run(p), `${label} should have been refused`);
        expect([err.code, err.field], `${label}: ${err.message}`).toEqual(['INVALID_ARGUMENT', field]);
      }
      // At the limits: accepted.
      expect((await show('postgresql', 1000)).text).not.toBe('');
      expect(() => checkCommand(payload('enableLog', log('slow_query', { thresholdMs: 3_600_000 })), postgresqlIdentity)).not.toThrow();

      // A well-formed name this datastore has no log of.
      for (const p of [
        payload('showLog', log('nosuch')),
        payload('enableLog', log('nosuch')),
        payload('disableLog', log('nosuch')),
        payload('publishLog', publishCmd({ name: 'nosuch' })),
        payload('showLog', log('general')),
      ]) {
        const err = await failure(inst.run(p));
        expect(err.code, err.message).toBe('NOT_FOUND');
        expect(err.message).toContain('postgresql, slow_query');
      }
      // The server log cannot be switched.
      for (const kind of ['enableLog', 'disableLog'] as const) {
        const err = await failure(inst.run(payload(kind, log('postgresql'))));
        expect(err.code, err.message).toBe('FAILED_PRECONDITION');
        expect(err.message).toContain('always on');
      }
      expect(state()).toBe(before.state);
      expect(await list()).toEqual(before.logs.map((l) => ({ ...l, size: expect.any(Number) })));
      expect(stored()).toEqual(before.stored);
    });

    /** The artifact as the controller records it, from what the agent answered. */
    function artifactOf(a: PublishedLogArtifact): BackupArtifact {
      return {
        backupId: a.publishId,
        instanceId: inst.ctx.instanceId,
        datastore: 'postgresql',
        datastoreVersion: '',
        type: BackupType.FULL,
        parentId: '',
        size: a.size,
        rawSize: a.rawSize,
        checksum: a.checksum,
        location: a.location,
        compression: a.compression,
        encryption: a.encryption,
        wrappedKey: a.wrappedKey,
        keyRef: a.keyRef,
        facts: {},
        createdAt: '',
        finishedAt: '',
      };
    }

    /** Fetched from the store (size and checksum checked), then decrypted with the key the grant unwraps. */
    async function decrypted(a: PublishedLogArtifact, g: BackupKeyGrant): Promise<string> {
      const artifact = artifactOf(a);
      const storage = openStorage(store.storage);
      const staging = join(mkdtempSync(join(tmpdir(), 'steward-pglog-fetch-')), 'data');
      const signal = new AbortController().signal;
      try {
        await fetchVerified({ storage, artifact, stagingFile: staging, signal });
        const chunks: Buffer[] = [];
        for await (const chunk of openVerified(staging, artifact, dataKeyOf(artifact, g), signal)) chunks.push(chunk as Buffer);
        // A copy whose recorded checksum does not match is refused.
        const wrong = `${staging}-wrong`;
        const tampered = { ...artifact, checksum: `sha256:${'0'.repeat(64)}` };
        const err = await failure(fetchVerified({ storage, artifact: tampered, stagingFile: wrong, signal }));
        expect(err.code).toBe('FAILED_PRECONDITION');
        return Buffer.concat(chunks).toString('utf8');
      } finally {
        storage.close();
        rmSync(join(staging, '..'), { recursive: true, force: true });
      }
    }
  });
}
