// Datastore logs end to end with real parts: controller, local provisioner,
// an agent over mutual TLS, a real MariaDB. A slow query is made slow for real
// and looked for in the log; a password the agent knows is sent in a statement
// and must come back redacted, in `show` and in the published copy, which is
// fetched from the storage, checked against its checksum and decrypted with
// the controller's key.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateInstanceRequest, type CreateInstanceResponse, type Instance } from '../../proto/gen/steward/v1/api.js';
import { BackupStorage, BackupType, type BackupArtifact } from '../../proto/gen/steward/v1/backups.js';
import { OperationState, type Operation } from '../../proto/gen/steward/v1/common.js';
import type { GuestLog, GuestLogList, GuestLogTail } from '../../proto/gen/steward/v1/log-types.js';
import { LogApiRequest, type ListPublishedLogsResponse, type PublishedLog, type PublishLogResponse } from '../../proto/gen/steward/v1/logs.js';
import { BackupKeyring } from '../../controller/backups/keyring.js';
import { dataKeyOf, fetchVerified, openVerified } from '../../managers/sdk/backup/pipeline.js';
import { openStorage } from '../../managers/sdk/backup/storage/open.js';
import { call, startTestController, waitFor, type TestController } from '../fixtures/controller.js';
import { mysqlUnavailableReason } from '../fixtures/mysql-instance.js';

const unavailable = await mysqlUnavailableReason();
if (unavailable) console.warn(`SKIPPING MariaDB log end-to-end tests: ${unavailable}`);

const APP_PASSWORD = 'Logs-Test-App-Pw-7781';
const SECRET_USER_PASSWORD = 'Logs-Secret-Pw-for-bob-4410';

describe.skipIf(!!unavailable)('MariaDB datastore logs end to end (controller + agent)', () => {
  let t: TestController;
  let inst: Instance;

  const logs = () => t.clients.logs;
  const req = (over: Partial<LogApiRequest>) => LogApiRequest.fromPartial({ instanceId: inst.id, ...over });
  const list = async () => (await call<object, GuestLogList>(logs(), 'list', { id: inst.id })).logs;
  const byName = (all: GuestLog[], name: string) => all.find((l) => l.name === name)!;
  const show = (name: string, lines = 0) => call<object, GuestLogTail>(logs(), 'show', req({ name, lines }));
  const finished = async (op: Operation) => {
    const done = await call<object, Operation>(t.clients.operations, 'wait', { id: op.id, timeoutMs: 120_000 });
    expect(done.error?.message ?? '', `${op.kind}`).toBe('');
    expect(done.state).toBe(OperationState.SUCCEEDED);
    return done;
  };
  const app = () => mysql.createConnection({ host: inst.host, port: inst.port, user: 'app', password: APP_PASSWORD });

  beforeAll(async () => {
    t = await startTestController({ missedHeartbeats: 40 });
    const created = await call<object, CreateInstanceResponse>(
      t.clients.instances,
      'create',
      CreateInstanceRequest.fromPartial({
        name: 'logged',
        datastore: 'mysql',
        memoryMb: 256,
        databases: [{ name: 'shop' }],
        users: [{ name: 'app', password: APP_PASSWORD, host: '%', access: [{ database: 'shop' }] }],
      }),
    );
    await finished(created.operation!);
    inst = await waitFor('the instance', async () => {
      const i = await call<object, Instance>(t.clients.instances, 'get', { id: created.instance!.id });
      return i.host ? i : undefined;
    });
  }, 180_000);

  afterAll(async () => {
    await t?.close();
  });

  it('lists the error log always on and the slow query and general logs off', async () => {
    const all = await list();
    expect(all.map((l) => l.name)).toEqual(['error', 'slow_query', 'general']);
    expect(byName(all, 'error')).toMatchObject({ optional: false, enabled: true });
    expect(byName(all, 'error').size).toBeGreaterThan(0);
    expect(byName(all, 'slow_query')).toMatchObject({ optional: true, enabled: false, thresholdMs: 10_000 });
    expect(byName(all, 'general')).toMatchObject({ optional: true, enabled: false });
    expect((await show('error', 5)).text).toMatch(/ready for connections|Version/);
  });

  it('the slow query log, enabled with a threshold, catches a slow query at once (no restart)', async () => {
    await finished(await call<object, Operation>(logs(), 'enable', req({ name: 'slow_query', thresholdMs: 200 })));
    const slow = byName(await list(), 'slow_query');
    expect(slow).toMatchObject({ enabled: true, thresholdMs: 200 });
    const c = await app();
    await c.query('SELECT SLEEP(0.4) AS slow_marker_one');
    await c.query('SELECT 1 AS fast_marker');
    await c.end();
    const text = (await show('slow_query')).text;
    expect(text).toContain('slow_marker_one');
    expect(text).not.toContain('fast_marker');
  });

  it('a password the agent knows never comes back, in show or in a published copy', async () => {
    await finished(await call<object, Operation>(logs(), 'enable', req({ name: 'general' })));
    // bob's password passes through the agent, which learns it as a secret.
    await finished(
      await call<object, Operation>(t.clients.users, 'create', {
        instanceId: inst.id,
        users: [{ name: 'bob', host: '%', password: SECRET_USER_PASSWORD, access: [] }],
      }),
    );
    const c = await app();
    await c.query(`SELECT '${SECRET_USER_PASSWORD}' AS leaked, 'general_marker' AS m`);
    await c.end();
    const general = (await show('general', 200)).text;
    expect(general).toContain('general_marker');
    expect(general).not.toContain(SECRET_USER_PASSWORD);
    expect(general).toContain('[REDACTED]');

    const { published, operation } = await call<object, PublishLogResponse>(logs(), 'publish', req({ name: 'general' }));
    expect(published!.status).toBe('PUBLISHING');
    await finished(operation!);
    const copies = (await call<object, ListPublishedLogsResponse>(logs(), 'listPublished', { instanceId: inst.id, name: 'general' })).logs;
    expect(copies).toHaveLength(1);
    const copy = copies[0]!;
    expect(copy).toMatchObject({ id: published!.id, status: 'PUBLISHED', name: 'general' });
    expect(copy.checksum).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(byName(await list(), 'general').published).toBe(1);

    // The stored object: checked against its record, decrypted with the key the controller derives for it.
    const row = await t.controller.store.selectFrom('published_logs').selectAll().where('id', '=', copy.id).executeTakeFirstOrThrow();
    const artifact: BackupArtifact = {
      backupId: row.id,
      instanceId: row.instance_id,
      datastore: 'mysql',
      datastoreVersion: '',
      type: BackupType.FULL,
      parentId: '',
      size: Number(row.size),
      rawSize: Number(row.raw_size),
      checksum: row.checksum,
      location: row.location,
      compression: row.compression,
      encryption: row.encryption,
      wrappedKey: row.wrapped_key!,
      keyRef: row.key_ref,
      facts: {},
      createdAt: '',
      finishedAt: '',
    };
    const storage = openStorage(BackupStorage.fromPartial({ kind: 'filesystem', path: join(t.dataDir, 'backups') }));
    const staging = join(mkdtempSync(join(tmpdir(), 'published-log-')), 'data');
    const signal = new AbortController().signal;
    await fetchVerified({ storage, artifact, stagingFile: staging, signal });
    expect(readFileSync(staging).includes('general_marker')).toBe(false); // encrypted at rest
    const keyring = BackupKeyring.loadOrCreate(join(t.dataDir, 'pki', 'backup-master.key'));
    const chunks: Buffer[] = [];
    for await (const chunk of openVerified(staging, artifact, dataKeyOf(artifact, keyring.grant(row.id)), signal)) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    expect(text).toContain('general_marker');
    expect(text).not.toContain(SECRET_USER_PASSWORD);
    expect(text).toContain('[REDACTED]');
    storage.close();

    const gone = await call<object, PublishedLog>(logs(), 'discard', { id: copy.id });
    expect(gone.id).toBe(copy.id);
    expect((await call<object, ListPublishedLogsResponse>(logs(), 'listPublished', { instanceId: inst.id, name: '' })).logs).toEqual([]);
    await expect(storage.list(`${inst.id}/${copy.id}`)).resolves.toEqual([]);
  });

  it('disable turns a log off at once; the error log cannot be switched', async () => {
    await finished(await call<object, Operation>(logs(), 'disable', req({ name: 'general' })));
    expect(byName(await list(), 'general').enabled).toBe(false);
    const c = await app();
    await c.query("SELECT 'after_disable_marker'");
    await c.end();
    expect((await show('general', 1000)).text).not.toContain('after_disable_marker');
    const op = await call<object, Operation>(logs(), 'disable', req({ name: 'error' }));
    const done = await call<object, Operation>(t.clients.operations, 'wait', { id: op.id, timeoutMs: 60_000 });
    expect(done.state).toBe(OperationState.FAILED);
    expect(done.error?.message).toContain('always on');
  });

  it('refuses hostile names, sizes and states with the right code and changes nothing', async () => {
    const bad: Array<[Partial<LogApiRequest>, status, string]> = [
      [{ name: '../../etc/passwd' }, status.INVALID_ARGUMENT, 'name'],
      [{ name: "slow_query'; DROP" }, status.INVALID_ARGUMENT, 'name'],
      [{ name: 'ｓｌｏｗ' }, status.INVALID_ARGUMENT, 'name'],
      [{ name: 'x'.repeat(300) }, status.INVALID_ARGUMENT, 'name'],
      [{ name: 'slow_query', lines: 5000 }, status.INVALID_ARGUMENT, 'lines'],
    ];
    for (const [over, code, field] of bad) {
      await expect(call(logs(), 'show', req(over)), JSON.stringify(over).slice(0, 60)).rejects.toMatchObject({ code, details: expect.stringContaining(field) });
    }
    await expect(call(logs(), 'enable', req({ name: 'slow_query', thresholdMs: 99_999_999 }))).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    await expect(call(logs(), 'show', req({ name: 'nosuch' }))).rejects.toMatchObject({
      code: status.NOT_FOUND,
      details: expect.stringContaining('error, slow_query, general'),
    });
    await expect(call(logs(), 'list', { id: 'no-such-instance' })).rejects.toMatchObject({ code: status.NOT_FOUND });
    await expect(call(logs(), 'discard', { id: 'no-such-copy' })).rejects.toMatchObject({ code: status.NOT_FOUND });
    expect(byName(await list(), 'slow_query')).toMatchObject({ enabled: true, thresholdMs: 200 });
  });
});
