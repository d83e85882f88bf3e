// The pure parts of the PostgreSQL backup strategy: WAL position and file name
// arithmetic (which has to match the server's exactly), the facts a backup
// records and the chain rules built on them, recovery settings, and the
// statements and files the strategy renders.
import { describe, expect, it } from 'vitest';
import { BackupType, type BackupArtifact } from '../../proto/gen/steward/v1/backups.js';
import { checkChainFacts, readFacts, toFacts, type PgBackupFacts } from '../../managers/postgresql/backup-facts.js';
import { fullBackupFacts, manifestEndLsn, parseBackupLabel, pgpassField } from '../../managers/postgresql/basebackup.js';
import { restorePointName } from '../../managers/postgresql/backup-incremental.js';
import { renderPostgresqlConf } from '../../managers/postgresql/config.js';
import { ADMIN_REPLICATION_LINE, hbaAllowsAdminReplication, hbaAllowsRoot, renderHba } from '../../managers/postgresql/hba.js';
import { postgresqlIdentity } from '../../managers/postgresql/identity.js';
import { checkRestoreChain } from '../../managers/postgresql/restore.js';
import { parseControlData, recoverySettings } from '../../managers/postgresql/recovery.js';
import { adminRoleSql } from '../../managers/postgresql/secure.js';
import { formatLsn, historyFileName, parseLsn, parseWalFileName, walFileAt, walFileEnding, walFileName, walRange } from '../../managers/postgresql/wal.js';
import { thrown } from '../fixtures/datastore-assertions.js';
import { checkCommand } from '../../managers/sdk/operations/commands.js';
import { payload } from '../../managers/sdk/operations/payload.js';

const MB16 = 16 * 1024 * 1024;

describe('postgresql WAL arithmetic', () => {
  it('parses and formats LSNs as the server writes them', () => {
    expect(parseLsn('0/3000028')).toBe(0x3000028n);
    expect(parseLsn('1A/FF')).toBe((0x1an << 32n) | 0xffn);
    expect(formatLsn(parseLsn('16/B374D848'))).toBe('16/B374D848');
    expect(formatLsn(0n)).toBe('0/0');
    for (const bad of ['', '0', '0/', 'x/1', '0/123456789', '0/1 ']) expect(() => parseLsn(bad)).toThrow(/not an LSN/);
  });

  it('names segment files: timeline, log id, segment within it', () => {
    expect(walFileName({ timeline: 1, segno: 2n }, MB16)).toBe('000000010000000000000002');
    // 256 segments of 16 MiB per log id: segment 0x100 is the first of log id 1.
    expect(walFileName({ timeline: 1, segno: 0x100n }, MB16)).toBe('000000010000000100000000');
    expect(walFileName({ timeline: 0x1f, segno: 0x2ffn }, MB16)).toBe('0000001F00000002000000FF');
    // 64 MiB segments: 64 per log id.
    expect(walFileName({ timeline: 1, segno: 64n }, 64 * 1024 * 1024)).toBe('000000010000000100000000');
    expect(parseWalFileName('0000001F00000002000000FF', MB16)).toEqual({ timeline: 0x1f, segno: 0x2ffn });
    // A segment number past the last of its log id is no file of this segment size.
    expect(() => parseWalFileName('000000010000000000000100', MB16)).toThrow(/not a segment/);
    expect(() => walFileName({ timeline: 1, segno: 0n }, 1000)).toThrow(/segment size/);
  });

  it('puts a position on a segment boundary into the segment it ends, as pg_walfile_name does', () => {
    // pg_switch_wal() returned 0/3000000 and pg_walfile_name() of it was ...02 on a real server.
    expect(walFileEnding(parseLsn('0/3000000'), 1, MB16)).toBe('000000010000000000000002');
    expect(walFileEnding(parseLsn('0/3000001'), 1, MB16)).toBe('000000010000000000000003');
    expect(walFileEnding(parseLsn('0/2000100'), 1, MB16)).toBe('000000010000000000000002');
    expect(walFileAt(parseLsn('0/3000000'), 1, MB16)).toBe('000000010000000000000003');
    expect(walFileEnding(parseLsn('1/0'), 2, MB16)).toBe('0000000200000000000000FF');
  });

  it('lists segment ranges across log ids, and refuses ranges that run backwards or change timeline', () => {
    expect(walRange('0000000100000000000000FE', '000000010000000100000001', MB16)).toEqual([
      '0000000100000000000000FE',
      '0000000100000000000000FF',
      '000000010000000100000000',
      '000000010000000100000001',
    ]);
    expect(walRange('000000010000000000000005', '000000010000000000000005', MB16)).toEqual(['000000010000000000000005']);
    expect(thrown(() => walRange('000000010000000000000005', '000000010000000000000004', MB16)).code).toBe('FAILED_PRECONDITION');
    expect(thrown(() => walRange('000000010000000000000005', '000000020000000000000006', MB16)).code).toBe('FAILED_PRECONDITION');
    expect(historyFileName(2)).toBe('00000002.history');
  });
});

const artifact = (over: Partial<BackupArtifact> & { facts: Record<string, string> }): BackupArtifact =>
  ({ backupId: 'b', instanceId: 'i', datastore: 'postgresql', type: BackupType.FULL, parentId: '', ...over }) as BackupArtifact;

const fullFacts: PgBackupFacts = {
  format: 'pg_basebackup-tar',
  timeline: 1,
  startLsn: '0/3000028',
  endLsn: '0/3000100',
  startWal: '000000010000000000000003',
  endWal: '000000010000000000000003',
  segmentSize: MB16,
  systemIdentifier: '7441234567890123456',
  versionNum: 150014,
};
const incrFacts: PgBackupFacts = {
  ...fullFacts,
  format: 'wal-tar',
  startLsn: '0/3000100',
  endLsn: '0/456E4B0',
  startWal: '000000010000000000000003',
  endWal: '000000010000000000000004',
  restorePoint: 'steward-incr-1-0011aabb',
};

describe('postgresql backup facts', () => {
  it('round-trips through the recorded string map', () => {
    expect(readFacts(artifact({ facts: toFacts(fullFacts) }))).toEqual({ ...fullFacts, restorePoint: undefined });
    expect(readFacts(artifact({ type: BackupType.INCREMENTAL, facts: toFacts(incrFacts) }))).toEqual(incrFacts);
    expect(toFacts(incrFacts)).toMatchObject({ timeline: '1', restore_point: 'steward-incr-1-0011aabb', wal_segment_size: '16777216' });
  });

  it('refuses a backup whose facts cannot be continued or restored, naming it', () => {
    const bad = (facts: Record<string, string>, type = BackupType.FULL) => {
      const err = thrown(() => readFacts(artifact({ backupId: 'x-1', type, facts })));
      return `${err.code}: ${err.message}`;
    };
    expect(bad({})).toMatch(/^FAILED_PRECONDITION: backup x-1 has no usable format/);
    expect(bad(toFacts(fullFacts), BackupType.INCREMENTAL)).toMatch(/format/); // a full backup's facts on an incremental
    expect(bad({ ...toFacts(incrFacts), restore_point: '' }, BackupType.INCREMENTAL)).toMatch(/restore_point/);
    expect(bad({ ...toFacts(fullFacts), end_wal: '000000020000000000000003' })).toMatch(/end_wal/); // another timeline
    expect(bad({ ...toFacts(fullFacts), start_lsn: 'soon' })).toMatch(/start_lsn/);
    expect(bad({ ...toFacts(fullFacts), system_identifier: '' })).toMatch(/system_identifier/);
  });

  it('accepts a chain only when each incremental continues where its parent ended, on one cluster and timeline', () => {
    const incr2: PgBackupFacts = { ...incrFacts, startWal: '000000010000000000000004', endWal: '000000010000000000000006' };
    const chain =
      (...facts: PgBackupFacts[]) =>
      () =>
        checkChainFacts(facts.map((f, i) => ({ id: `b${i}`, facts: f })));
    expect(chain(fullFacts, incrFacts, incr2)).not.toThrow();
    expect(thrown(chain(fullFacts, incr2)).code).toBe('FAILED_PRECONDITION'); // incr-1's WAL would be missing
    expect(thrown(chain(fullFacts, { ...incrFacts, systemIdentifier: '1' })).code).toBe('FAILED_PRECONDITION');
    expect(thrown(chain(fullFacts, { ...incrFacts, timeline: 2 })).code).toBe('FAILED_PRECONDITION');
    expect(thrown(chain(fullFacts, { ...incrFacts, segmentSize: 2 * MB16 })).code).toBe('FAILED_PRECONDITION');
  });

  it('names restore points within the server limit, unique per attempt', () => {
    const a = restorePointName('a'.repeat(64));
    expect(a.length).toBeLessThanOrEqual(63);
    expect(a).toMatch(/^steward-a{40}-[0-9a-f]{8}$/);
    expect(restorePointName('x')).not.toBe(restorePointName('x'));
  });
});

describe('pg_basebackup output', () => {
  const label = [
    'START WAL LOCATION: 0/2000028 (file 000000010000000000000002)',
    'CHECKPOINT LOCATION: 0/2000060',
    'BACKUP METHOD: streamed',
    'BACKUP FROM: primary',
    'START TIME: 2026-11-26 11:23:50 UTC',
    'LABEL: steward full-1',
    'START TIMELINE: 1',
    '',
  ].join('\n');
  const manifestTail =
    '{ "Path": "global/pg_control", "Size": 8192 }\n],\n"WAL-Ranges": [\n{ "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/3000100" }\n],\n"Manifest-Checksum": "7e39"}\n';

  it('reads where replay starts from backup_label and where the backup ends from the manifest', () => {
    expect(parseBackupLabel(label)).toEqual({ startLsn: '0/2000028', startWal: '000000010000000000000002', timeline: 1 });
    expect(() => parseBackupLabel('LABEL: x\n')).toThrow(/START WAL LOCATION/);
    expect(manifestEndLsn(manifestTail)).toBe('0/3000100');
    expect(() => manifestEndLsn('"Files": []')).toThrow(/no WAL range/);
  });

  it('derives the WAL span and insists the tar carries every segment of it', () => {
    const scan = { label, manifestTail, walFiles: ['000000010000000000000002', '000000010000000000000003'], members: 900, ended: true };
    expect(fullBackupFacts(scan, MB16)).toEqual({
      timeline: 1,
      startLsn: '0/2000028',
      endLsn: '0/3000100',
      startWal: '000000010000000000000002',
      endWal: '000000010000000000000003',
    });
    expect(() => fullBackupFacts({ ...scan, walFiles: ['000000010000000000000002'] }, MB16)).toThrow(/lacks the WAL .*000000010000000000000003/);
    expect(() => fullBackupFacts({ ...scan, ended: false }, MB16)).toThrow(/end-of-archive/);
    expect(() => fullBackupFacts({ ...scan, label: undefined }, MB16)).toThrow(/backup_label/);
  });

  it('escapes password file fields', () => {
    expect(pgpassField('a:b\\c')).toBe('a\\:b\\\\c');
  });
});

describe('postgresql recovery and rendered files', () => {
  it('recovers a full backup to its end, a chain to its last restore point, promoted and unreachable meanwhile', () => {
    const immediate = recoverySettings('/s/restore-wal', { kind: 'immediate' });
    expect(immediate).toMatchObject({ recovery_target: 'immediate', recovery_target_action: 'promote', hot_standby: false, listen_addresses: '' });
    expect(immediate).not.toHaveProperty('recovery_target_name');
    const named = recoverySettings('/s/restore-wal', { kind: 'restore_point', name: 'steward-i-1' });
    expect(named).toMatchObject({ recovery_target_name: 'steward-i-1', recovery_target_timeline: 'current' });
    expect(named).not.toHaveProperty('recovery_target');
    expect(named.restore_command).toContain("'/s/restore-wal'/%f");
  });

  it("reads pg_controldata's cluster state", () => {
    const text =
      'pg_control version number:            1300\nDatabase cluster state:               in archive recovery\nLatest checkpoint location:           0/3000060\n';
    expect(parseControlData(text)['Database cluster state']).toBe('in archive recovery');
    expect(parseControlData(text)['Latest checkpoint location']).toBe('0/3000060');
  });

  it('sets the admin password on one single-user-mode line, replacing the restored one', () => {
    const create = adminRoleSql('s3cret', false);
    const replace = adminRoleSql('s3cret', true);
    for (const sql of [create, replace]) {
      expect(sql.trimEnd()).not.toContain('\n');
      expect(sql).not.toContain('s3cret');
      expect(sql).toMatch(/SCRAM-SHA-256\$4096:/);
    }
    expect(create).toMatch(/^CREATE ROLE "steward_admin" SUPERUSER LOGIN PASSWORD /);
    expect(replace).toMatch(/^DO \$steward_admin\$ BEGIN IF EXISTS .* THEN ALTER ROLE "steward_admin" SUPERUSER LOGIN PASSWORD .* ELSE CREATE ROLE/);
  });

  it('lets the admin open replication connections over the socket only, keeping root as it was', () => {
    for (const rootOverTcp of [false, true]) {
      const hba = renderHba({ rootOverTcp, adminReplication: true });
      expect(hbaAllowsAdminReplication(hba)).toBe(true);
      expect(hbaAllowsRoot(hba)).toBe(rootOverTcp);
      expect(hba).not.toMatch(/^host\s+replication/m);
    }
    expect(ADMIN_REPLICATION_LINE.split(/\s+/)).toEqual(['local', 'replication', 'steward_admin', 'scram-sha-256']);
    expect(hbaAllowsAdminReplication(renderHba({ rootOverTcp: false }))).toBe(false);
  });

  it('archives WAL when given an archive command', () => {
    const base = {
      dataDir: '/s/data',
      hbaFile: '/s/h',
      identFile: '/s/i',
      port: 5432,
      bindAddress: '127.0.0.1',
      socketDir: '/s/run',
      logDir: '/s/log',
      memoryMb: 256,
    };
    const lines = renderPostgresqlConf({ ...base, archiveCommand: "cp %p '/s/wal-archive'/%f" }).split('\n');
    expect(lines).toContain('archive_mode = on');
    expect(lines).toContain("wal_level = 'replica'");
    expect(lines).toContain("archive_command = 'cp %p ''/s/wal-archive''/%f'");
    expect(renderPostgresqlConf(base)).not.toMatch(/archive_/);
  });

  it('refuses databases or users together with a restore, naming the field', () => {
    const chain = [{ artifact: artifact({ facts: toFacts(fullFacts) }), key: undefined }];
    const req = (over: object) => ({
      memoryMb: 0,
      port: 0,
      bindAddress: '',
      cluster: undefined,
      databases: [],
      users: [],
      replicaOf: undefined,
      configuration: {},
      restore: { storage: undefined, chain },
      ...over,
    });
    const check = (over: object) => checkCommand(payload('prepare', req(over)), postgresqlIdentity);
    const err = (over: object) => thrown(() => check(over));
    expect(() => check({})).not.toThrow();
    expect(err({ databases: [{ name: 'app', characterSet: '', collation: '', ctype: '', replication: {} }] })).toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'databases',
    });
    expect(err({ users: [{ name: 'bob', host: '', password: 'pw', access: [], permissions: '' }] })).toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'users',
    });
    expect(thrown(() => checkRestoreChain({ storage: undefined, chain: [] }))).toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
