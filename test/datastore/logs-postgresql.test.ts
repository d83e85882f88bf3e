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
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCommand } from '../../managers/sdk/operations/commands.js';
import { payload, resultOf } from '../../managers/sdk/operations/payload.js';
import type { ServiceSpec } from '../../managers/sdk/service-control.js';
import { REDACTED } from '../../managers/sdk/redact.js';
import { postgresqlIdentity } from '../../managers/postgresql/identity.js';
import type { BackupKeyGrant, BackupStorage } from '../../proto/gen/steward/v1/backups.js';
import { tempStore } from '../fixtures/backup-storage.js';
import { failure } from '../fixtures/datastore-assertions.js';
import { serverProcesses } from '../fixtures/datastore-lifecycle.js';
import { describeUnavailable, prepareRequest } from '../fixtures/datastore-suite.js';
import { guestLogs, logRequest as log, type RefusedCase } from '../fixtures/guest-logs.js';
import { createPostgresqlInstance, postgresqlAdmin, postgresqlUnavailableReason, testOp, type PostgresqlInstance } from '../fixtures/postgresql-instance.js';

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

    const admin = <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => postgresqlAdmin(inst, fn);
    const sql = (...statements: string[]) =>
      admin(async (c) => {
        for (const s of statements) await c.query(s);
      });
    const guest = guestLogs({
      inst: () => inst,
      store: () => store,
      grant,
      datastore: 'postgresql',
      serverLog: 'postgresql',
      publishName: 'slow_query',
      mismatch: 'checksum',
    });
    const { show, list, logged, publishCmd, publish, stored, decrypted } = guest;
    const byName = async (name: string) => (await list()).find((l) => l.name === name);
    const switched = async (kind: 'enableLog' | 'disableLog', name: string, thresholdMs = 0) =>
      resultOf(await inst.run(payload(kind, { name, thresholdMs, lines: 0 })), 'logs')?.logs[0];
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
      // The artifact, the store, the copy against the file and another key: as every datastore's (guest-logs.ts).
      const text = await guest.publishVerified('postgresql', { rawLog, atRest: 'secret_marker', secret: SECRET, marker: 'secret_marker' });
      expect(text).toContain("statement: SELECT pg_sleep(0.4), 'slow_marker'");
      expect(text).toContain(`'${REDACTED}' AS leaked, 'secret_marker'`);
      // The long line too: published in 64 KiB reads, every copy of the secret still whole, so redacted.
      expect(text).toContain(`statement: SELECT pg_sleep(0.3), '${REDACTED.repeat(LONG_COPIES)}' AS long_marker`);

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
      // A key of the wrong size, or none, is refused before anything is written.
      await guest.expectKeysRefused([randomBytes(16), randomBytes(33), Buffer.alloc(0), undefined]);
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
      const cancelled = await guest.cancelledPublish();
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
      const cases: RefusedCase[] = guest.hostileNames(names, { thresholdMs: 200 });
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
      await guest.expectRefused(cases, postgresqlIdentity);
      // At the limits: accepted.
      expect((await show('postgresql', 1000)).text).not.toBe('');
      expect(() => checkCommand(payload('enableLog', log('slow_query', { thresholdMs: 3_600_000 })), postgresqlIdentity)).not.toThrow();

      // A well-formed name this datastore has no log of.
      await guest.expectNotFound(
        [
          payload('showLog', log('nosuch')),
          payload('enableLog', log('nosuch')),
          payload('disableLog', log('nosuch')),
          payload('publishLog', publishCmd({ name: 'nosuch' })),
          payload('showLog', log('general')),
        ],
        'postgresql, slow_query',
      );
      // The server log cannot be switched.
      await guest.expectAlwaysOn('postgresql');
      expect(state()).toBe(before.state);
      expect(await list()).toEqual(before.logs.map((l) => ({ ...l, size: expect.any(Number) })));
      expect(stored()).toEqual(before.stored);
    });
  });
}
