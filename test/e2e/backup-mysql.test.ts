// Backups end to end with real parts: controller, local provisioner, real agent
// processes over mutual TLS, real MariaDB servers and mariadb-backup, the
// controller's default filesystem storage. Restored instances are compared
// with the source by content (row counts and content checksums), and the
// failure paths are checked for what they leave behind: records, objects,
// served data.
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, clientsFor, startTestController, waitFor, type Clients, type TestController } from '../fixtures/controller.js';
import { CreateInstanceRequest, InstanceTask, type CreateInstanceResponse, type DeepPartial, type Instance } from '../../proto/gen/steward/v1/api.js';
import { DatastoreStatus, OperationState, type Operation } from '../../proto/gen/steward/v1/common.js';
import { BackupStatus, BackupType, CreateBackupApiRequest, type Backup, type ListBackupsResponse } from '../../proto/gen/steward/v1/backups.js';
import { pidsMentioning } from '../../controller/provisioner/processes.js';
import { mysqlUnavailableReason } from '../fixtures/mysql-instance.js';

const unavailable = await mysqlUnavailableReason();
if (unavailable) console.warn(`SKIPPING MariaDB backup end-to-end tests: ${unavailable}`);

const PASSWORD = 'Backup-Test-Pw-93kd';
type Snapshot = Record<string, { rows: number; content: string }>;

describe.skipIf(!!unavailable)('MariaDB backups end to end (controller + agents + mariadb-backup)', () => {
  let t: TestController;
  let src: Instance;
  let full: Backup;
  let incr: Backup;
  let atFull: Snapshot;
  let atIncr: Snapshot;
  const store = () => join(t.dataDir, 'backups');

  const connect = (inst: Instance) => mysql.createConnection({ host: inst.host, port: inst.port, user: 'app', password: PASSWORD, database: 'shop' });

  async function snapshot(inst: Instance): Promise<Snapshot> {
    const c = await connect(inst);
    try {
      const out: Snapshot = {};
      for (const table of ['items', 'log']) {
        const [[n]] = await c.query<RowDataPacket[]>(`SELECT COUNT(*) n FROM ${table}`);
        const [[sum]] = await c.query<RowDataPacket[]>(`CHECKSUM TABLE ${table} EXTENDED`);
        out[table] = { rows: Number(n.n), content: String(sum.Checksum) };
      }
      return out;
    } finally {
      await c.end();
    }
  }

  async function insertItems(inst: Instance, from: number, count: number): Promise<void> {
    const c = await connect(inst);
    try {
      for (let b = 0; b < count; b += 500) {
        const rows = Array.from({ length: Math.min(500, count - b) }, (_, i) => [from + b + i, `item-${from + b + i}`, randomBytes(96).toString('base64')]);
        await c.query('INSERT INTO items (id, name, body) VALUES ?', [rows]);
        await c.query('INSERT INTO log (msg) VALUES (?)', [`batch ${from + b}`]);
      }
    } finally {
      await c.end();
    }
  }

  async function createInstance(req: DeepPartial<CreateInstanceRequest>, clients: Clients = t.clients): Promise<CreateInstanceResponse> {
    return call<object, CreateInstanceResponse>(clients.instances, 'create', CreateInstanceRequest.fromPartial({ datastore: 'mysql', memoryMb: 256, ...req }));
  }

  async function healthy(id: string): Promise<Instance> {
    return waitFor(
      `instance ${id} HEALTHY`,
      async () => {
        const i = await call<object, Instance>(t.clients.instances, 'get', { id });
        return i.status === DatastoreStatus.HEALTHY && i.task === InstanceTask.NONE && i;
      },
      120_000,
    );
  }

  const startBackup = (req: DeepPartial<CreateBackupApiRequest>, clients: Clients = t.clients) =>
    call<object, Backup>(clients.backups, 'create', CreateBackupApiRequest.fromPartial({ instanceId: src.id, name: 'nightly', ...req }));
  const getBackup = (id: string) => call<object, Backup>(t.clients.backups, 'get', { id });
  const listBackups = (instanceId = '') => call<object, ListBackupsResponse>(t.clients.backups, 'list', { instanceId });

  async function finished(id: string): Promise<{ backup: Backup; seen: Set<BackupStatus> }> {
    const seen = new Set<BackupStatus>();
    const backup = await waitFor(
      `backup ${id} to finish`,
      async () => {
        const b = await getBackup(id);
        seen.add(b.status);
        return b.status !== BackupStatus.BUILDING && b.status !== BackupStatus.SAVING && b.status !== BackupStatus.NEW && b;
      },
      180_000,
      100,
    );
    return { backup, seen };
  }

  const backupDirs = (instanceId: string) => (existsSync(join(store(), instanceId)) ? readdirSync(join(store(), instanceId)) : []);

  beforeAll(async () => {
    // Restores and backups keep both cores busy; 20 s of silence, not 5, before an agent counts as lost.
    t = await startTestController({ missedHeartbeats: 40 });
    const created = await createInstance({
      name: 'shop-source',
      databases: [{ name: 'shop' }],
      users: [{ name: 'app', password: PASSWORD, host: '%', access: [{ database: 'shop' }] }],
    });
    await call(t.clients.operations, 'wait', { id: created.operation!.id, timeoutMs: 180_000 });
    src = await healthy(created.instance!.id);
    const c = await connect(src);
    await c.query('CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(64), body TEXT) ENGINE=InnoDB');
    await c.query('CREATE TABLE log (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(200)) ENGINE=Aria');
    await c.end();
    await insertItems(src, 0, 6000);
  }, 240_000);
  afterAll(async () => t?.close());

  it('takes a full backup: BUILDING, then COMPLETED with size, checksum and a location in storage', async () => {
    const started = await startBackup({ name: 'full-1', description: 'first' });
    expect(started.status).toBe(BackupStatus.NEW);
    expect(started.type).toBe(BackupType.FULL);
    atFull = await snapshot(src); // the backup runs while we read; nothing writes until it ends
    const { backup } = await finished(started.id);
    expect(backup.message).toBe('');
    expect(backup.status).toBe(BackupStatus.COMPLETED);
    expect(backup.size).toBeGreaterThan(0);
    expect(backup.checksum).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(backup.datastoreVersion).toMatch(/MariaDB/i);
    expect(backup.location).toBe(`file://${join(store(), src.id, backup.id, 'data')}`);
    expect(existsSync(join(store(), src.id, backup.id, 'meta.json'))).toBe(true);
    full = backup;
  });

  it('takes an incremental backup on the latest completed one', async () => {
    await insertItems(src, 6000, 2000);
    atIncr = await snapshot(src);
    expect(atIncr.items.rows).toBe(8000);
    const started = await startBackup({ name: 'incr-1', incremental: true });
    expect(started.type).toBe(BackupType.INCREMENTAL);
    expect(started.parentId).toBe(full.id);
    const { backup } = await finished(started.id);
    expect(backup.status).toBe(BackupStatus.COMPLETED);
    incr = backup;
    await insertItems(src, 8000, 1000); // after the incremental: must not appear in its restore
    const listed = await listBackups(src.id);
    expect(listed.backups.map((b) => b.id)).toEqual([full.id, incr.id]);
  });

  it('restores the chain (full + incremental) into a new instance with the same content', async () => {
    const created = await createInstance({ name: 'from-incr', backupId: incr.id });
    const op = await call<object, Operation>(t.clients.operations, 'wait', { id: created.operation!.id, timeoutMs: 240_000 });
    expect(op.error?.message).toBeUndefined();
    expect(op.state).toBe(OperationState.SUCCEEDED);
    const restored = await healthy(created.instance!.id);
    expect(await snapshot(restored)).toEqual(atIncr);
    expect(await snapshot(src)).not.toEqual(atIncr); // the source moved on; the restore is the backup's point
  });

  it('restores the full backup alone to its own point', async () => {
    const created = await createInstance({ name: 'from-full', backupId: full.id });
    await call(t.clients.operations, 'wait', { id: created.operation!.id, timeoutMs: 240_000 });
    const restored = await healthy(created.instance!.id);
    expect(await snapshot(restored)).toEqual(atFull);
  });

  it('refuses to delete a backup with incremental children unless asked for the chain; nothing changes', async () => {
    await expect(call(t.clients.backups, 'delete', { id: full.id, chain: false })).rejects.toMatchObject({
      code: status.FAILED_PRECONDITION,
      details: expect.stringContaining(incr.id),
    });
    expect((await listBackups(src.id)).backups.map((b) => b.status)).toEqual([BackupStatus.COMPLETED, BackupStatus.COMPLETED]);
    expect(existsSync(join(store(), src.id, full.id, 'data'))).toBe(true);
  });

  it('refuses bad requests with the fitting code, naming the field, and records nothing', async () => {
    const before = (await listBackups()).backups.length;
    const expectCode = (p: Promise<unknown>, code: status, text?: string) =>
      expect(p).rejects.toMatchObject({ code, ...(text ? { details: expect.stringContaining(text) } : {}) });
    await expectCode(startBackup({ name: '' }), status.INVALID_ARGUMENT, 'name');
    await expectCode(startBackup({ name: 'x'.repeat(256) }), status.INVALID_ARGUMENT, 'name');
    await expectCode(startBackup({ name: 'bad\u0000name' }), status.INVALID_ARGUMENT, 'name');
    await expectCode(startBackup({ description: 'd'.repeat(2000) }), status.INVALID_ARGUMENT, 'description');
    await expectCode(startBackup({ parentId: full.id }), status.INVALID_ARGUMENT, 'parent_id');
    await expectCode(startBackup({ instanceId: "x'; DROP TABLE backups; --" }), status.NOT_FOUND);
    await expectCode(startBackup({ incremental: true, parentId: 'no-such-backup-ü' }), status.NOT_FOUND);
    await expectCode(createInstance({ name: 'r', backupId: full.id, databases: [{ name: 'other' }] }), status.INVALID_ARGUMENT, 'databases');
    await expectCode(
      createInstance({ name: 'r', backupId: full.id, users: [{ name: 'u2', password: PASSWORD, host: '%' }] }),
      status.INVALID_ARGUMENT,
      'users',
    );
    await expectCode(createInstance({ name: 'r', backupId: 'nope' }), status.NOT_FOUND, 'nope');
    await expectCode(createInstance({ name: 'r', datastore: 'postgresql', backupId: full.id }), status.FAILED_PRECONDITION, 'mysql backup');
    await expectCode(createInstance({ name: 'r', datastoreVersion: '11.4', backupId: full.id }), status.FAILED_PRECONDITION, '10.11');
    await expectCode(call(t.clients.backups, 'get', { id: '../../etc/passwd' }), status.NOT_FOUND);
    expect((await listBackups()).backups.length).toBe(before);
  });

  it("hides one tenant's backups from another (NOT_FOUND), and changes nothing", async () => {
    const { token } = await call<object, { token: string }>(t.clients.tokens, 'create', { tenantId: 'acme', name: 'acme', admin: false });
    const acme = clientsFor(t.controller.address, t.controller.caFile, token);
    try {
      await expect(call(acme.backups, 'get', { id: full.id })).rejects.toMatchObject({ code: status.NOT_FOUND });
      await expect(call(acme.backups, 'delete', { id: incr.id, chain: true })).rejects.toMatchObject({ code: status.NOT_FOUND });
      await expect(call(acme.backups, 'list', { instanceId: src.id })).rejects.toMatchObject({ code: status.NOT_FOUND });
      expect((await call<object, ListBackupsResponse>(acme.backups, 'list', { instanceId: '' })).backups).toEqual([]);
      await expect(startBackup({}, acme)).rejects.toMatchObject({ code: status.NOT_FOUND });
      await expect(createInstance({ name: 'steal', backupId: full.id }, acme)).rejects.toMatchObject({ code: status.NOT_FOUND });
    } finally {
      acme.close();
    }
    expect((await getBackup(incr.id)).status).toBe(BackupStatus.COMPLETED);
  });

  it('refuses a corrupted backup: the new instance ends BUILDING_ERROR and serves nothing', async () => {
    // A copy of the full backup's record pointing at a corrupted object would need store surgery;
    // corrupting the stored object of a throwaway backup is what an operator would meet.
    const started = await startBackup({ name: 'to-corrupt' });
    const { backup } = await finished(started.id);
    expect(backup.status).toBe(BackupStatus.COMPLETED);
    const data = join(store(), src.id, backup.id, 'data');
    const bytes = readFileSync(data);
    bytes[Math.floor(bytes.length / 2)] ^= 0x01;
    writeFileSync(data, bytes);

    const created = await createInstance({ name: 'from-corrupt', backupId: backup.id });
    const op = await call<object, Operation>(t.clients.operations, 'wait', { id: created.operation!.id, timeoutMs: 180_000 });
    expect(op.state).toBe(OperationState.FAILED);
    expect(op.error?.message).toMatch(/corrupt or incomplete.*checksum/);
    const inst = await call<object, Instance>(t.clients.instances, 'get', { id: created.instance!.id });
    expect(inst.task).toBe(InstanceTask.BUILDING_ERROR);
    expect(inst.taskMessage).toMatch(/corrupt/);
    const stateDir = t.controller.provisioner.stateDirOf(inst.id);
    const dataDir = join(stateDir, 'data');
    expect(existsSync(dataDir) ? readdirSync(dataDir) : []).toEqual([]);
    const mariadbd = pidsMentioning('my.cnf').filter((p) => pidsMentioning(stateDir).includes(p));
    expect(mariadbd).toEqual([]); // no server was started on it
    await call(t.clients.backups, 'delete', { id: backup.id, chain: false });
  });

  const signalAll = (pids: number[], sig: NodeJS.Signals) =>
    pids.forEach((p) => {
      try {
        process.kill(p, sig);
      } catch {
        /* already gone */
      }
    });
  const partialsOf = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []).filter((f) => f.includes('partial'));

  /**
   * Starts a backup and freezes its native tool once bytes are on their way to
   * storage, so that whatever the test does next lands mid-stream every time.
   * The tool is caught and then let run in short slices; a backup that finishes
   * before it could be caught (a fast machine) is deleted and tried again.
   */
  async function frozenMidStream(instanceId: string, name: string, incremental: boolean): Promise<{ started: Backup; tool: number[]; dir: string }> {
    const stateDir = t.controller.provisioner.stateDirOf(instanceId);
    for (let attempt = 1; ; attempt++) {
      const started = await startBackup({ instanceId, name, incremental });
      const dir = join(store(), instanceId, started.id);
      const over = async () => (await getBackup(started.id)).status === BackupStatus.COMPLETED;
      const tool = await waitFor(
        'mariadb-backup running, or the backup over',
        async () => {
          const pids = pidsMentioning('--stream=xbstream').filter((p) => pidsMentioning(stateDir).includes(p));
          if (pids.length) signalAll(pids, 'SIGSTOP');
          return pids.length ? pids : (await over()) && [];
        },
        120_000,
        5,
      );
      let slice = 10;
      const caught =
        tool.length > 0 &&
        (await waitFor(
          'bytes of the running backup on their way to storage, or the backup over',
          async () => {
            const saving = (await getBackup(started.id)).status === BackupStatus.SAVING;
            const stored = partialsOf(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
            if (partialsOf(dir).length && (saving || stored > 0)) return 'caught';
            if (await over()) return 'over';
            signalAll(tool, 'SIGCONT');
            await new Promise((r) => setTimeout(r, slice));
            signalAll(tool, 'SIGSTOP');
            slice = Math.min(slice * 2, 200);
            await new Promise((r) => setTimeout(r, 150)); // let the pipeline drain what was read
            return undefined;
          },
          60_000,
          0,
        )) === 'caught';
      if (caught) return { started, tool, dir };
      signalAll(tool, 'SIGCONT');
      expect(attempt, 'a backup could not be caught mid-stream in 5 attempts').toBeLessThan(5);
      await finished(started.id);
      await call(t.clients.backups, 'delete', { id: started.id, chain: false });
    }
  }

  it('ends a backup FAILED when its agent is killed -9 mid-stream, removes the partial object, and the next backup succeeds', async () => {
    await insertItems(src, 9000, 3000);
    const { started, tool, dir } = await frozenMidStream(src.id, 'killed', false);
    expect(partialsOf(dir).length).toBeGreaterThan(0); // a partial object exists at the kill
    const agentPid = await t.controller.provisioner.agentPid(src.id);
    process.kill(agentPid!, 'SIGKILL');
    signalAll(tool, 'SIGKILL');

    const { backup } = await finished(started.id);
    expect(backup.status).toBe(BackupStatus.FAILED);
    expect(backup.message).toMatch(/agent restarted|agent lost/);
    await waitFor('partial objects removed', async () => !existsSync(dir), 30_000);
    expect(backupDirs(src.id).sort()).toEqual([full.id, incr.id].sort());

    await healthy(src.id); // the restarted agent re-adopted the running server
    const next = await startBackup({ name: 'after-kill', incremental: true });
    expect(next.parentId).toBe(incr.id); // the failed one is never a parent
    const done = await finished(next.id);
    expect(done.backup.status).toBe(BackupStatus.COMPLETED);
  });

  it('finishes a backup that was running while the controller restarted', async () => {
    const { started, tool } = await frozenMidStream(src.id, 'across-restart', true);
    await t.restart();
    signalAll(tool, 'SIGCONT');
    const { backup } = await finished(started.id);
    expect(backup.message).toBe('');
    expect(backup.status).toBe(BackupStatus.COMPLETED);
    expect(existsSync(join(store(), src.id, started.id, 'meta.json'))).toBe(true);
  });

  it('ends a running backup FAILED when its instance is deleted, and removes what it had stored', async () => {
    const created = await createInstance({
      name: 'doomed',
      databases: [{ name: 'shop' }],
      users: [{ name: 'app', password: PASSWORD, host: '%', access: [{ database: 'shop' }] }],
    });
    await call(t.clients.operations, 'wait', { id: created.operation!.id, timeoutMs: 180_000 });
    const doomed = await healthy(created.instance!.id);
    const { started, tool } = await frozenMidStream(doomed.id, 'doomed-backup', false); // still running when the deletion arrives
    const stateDir = t.controller.provisioner.stateDirOf(doomed.id);
    const deletedAt = Date.now();
    await call(t.clients.instances, 'delete', { id: doomed.id });
    const { backup } = await finished(started.id);
    expect(backup.status).toBe(BackupStatus.FAILED);
    expect(backup.message).toMatch(/instance deleted/);
    await waitFor(
      'instance gone',
      () =>
        call(t.clients.instances, 'get', { id: doomed.id }).then(
          () => false,
          (e) => e.code === status.NOT_FOUND,
        ),
      120_000,
    );
    expect(Date.now() - deletedAt).toBeLessThan(60_000); // the backup did not hold the deletion up
    await waitFor('objects removed', async () => !existsSync(join(store(), doomed.id, started.id)), 30_000);
    expect(tool.filter((p) => pidsMentioning(stateDir).includes(p))).toEqual([]);
  });

  it('deletes a whole chain when asked, children first, and removes its objects', async () => {
    const all = (await listBackups(src.id)).backups;
    const deleted = await call<object, { deletedIds: string[] }>(t.clients.backups, 'delete', { id: full.id, chain: true });
    const killedOne = all.find((b) => b.status === BackupStatus.FAILED);
    expect(deleted.deletedIds[deleted.deletedIds.length - 1]).toBe(full.id);
    expect(new Set(deleted.deletedIds)).toEqual(new Set(all.filter((b) => b !== killedOne).map((b) => b.id)));
    expect(backupDirs(src.id)).toEqual([]);
    await expect(getBackup(full.id)).rejects.toMatchObject({ code: status.NOT_FOUND });
  });

  it('raised backup.create and backup.delete start/end/error, each backup in order, through the one notification module', async () => {
    const path = t.controller.notifications.filePath!;
    const events = await waitFor(
      'backup events in the file sink',
      async () => {
        const all = existsSync(path)
          ? readFileSync(path, 'utf8')
              .split('\n')
              .filter(Boolean)
              .map((l) => JSON.parse(l))
          : [];
        const mine = all.filter((e) => e.event_type.startsWith('backup.'));
        return mine.some((e) => e.event_type === 'backup.delete.end' && e.payload.id === full.id) && mine;
      },
      30_000,
    );
    const of = (id: string) => events.filter((e: any) => e.payload.id === id).map((e: any) => e.event_type);
    expect(of(full.id)).toEqual(['backup.create.start', 'backup.create.end', 'backup.delete.start', 'backup.delete.end']);
    expect(of(incr.id)).toEqual(['backup.create.start', 'backup.create.end', 'backup.delete.start', 'backup.delete.end']);
    // (A 'killed' attempt that finished before it could be caught was deleted and tried again: take the failed one.)
    const killed = events.find((e: any) => e.payload.name === 'killed' && e.event_type === 'backup.create.error');
    expect(of(killed.payload.id)).toEqual(['backup.create.start', 'backup.create.error']);
    const error = events.find((e: any) => e.payload.id === killed.payload.id && e.event_type === 'backup.create.error');
    expect(error).toMatchObject({ priority: 'ERROR', payload: { status: 'FAILED', exception: expect.stringMatching(/agent restarted|agent lost/) } });
    const end = events.find((e: any) => e.payload.id === full.id && e.event_type === 'backup.create.end');
    expect(end.payload).toMatchObject({ status: 'COMPLETED', instance_id: src.id, parent_id: null, locationRef: full.location });
    expect(end.payload.size).toBe(full.size);
  });
});
