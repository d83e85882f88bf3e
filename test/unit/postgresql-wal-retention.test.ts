// Retention of the PostgreSQL WAL archive: which files a completed backup
// makes unnecessary (pure), the pruning itself on a real directory, the
// refusal message an older parent then gets, and the archive's size for the probe.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BackupType, type BackupArtifact } from '../../proto/gen/steward/v1/backups.js';
import { toFacts, type PgBackupFacts } from '../../managers/postgresql/backup-facts.js';
import { createLogger } from '../../managers/sdk/logger.js';
import {
  RETENTION_FILE,
  TEMP_GRACE_MS,
  explainMissing,
  prunable,
  pruneAfterBackup,
  pruneWalArchive,
  readRetention,
  segmentOfArchiveFile,
  walArchiveUsage,
  type RetentionCutoff,
} from '../../managers/postgresql/wal-retention.js';

const MB16 = 16 * 1024 * 1024;
const NOW = Date.parse('2026-01-01T12:00:00Z');
const cutoff = (keepFrom: string, segmentSize = MB16): RetentionCutoff => ({ backupId: 'incr-2', keepFrom, segmentSize });
/** Names given the same (old) modification time. */
const entries = (names: string[], mtimeMs = NOW - 2 * TEMP_GRACE_MS) => names.map((name) => ({ name, mtimeMs }));

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'steward-walret-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('WAL archive retention: what a backup ending at end_wal makes unnecessary', () => {
  it('recognises the files that belong to a segment, and nothing else', () => {
    expect(segmentOfArchiveFile('000000010000000000000003')).toEqual({ segment: '000000010000000000000003', hidden: false });
    expect(segmentOfArchiveFile('000000010000000000000003.partial')).toEqual({ segment: '000000010000000000000003', hidden: false });
    expect(segmentOfArchiveFile('000000010000000000000003.00000028.backup')).toEqual({ segment: '000000010000000000000003', hidden: false });
    expect(segmentOfArchiveFile('.000000010000000000000003.partial')).toEqual({ segment: '000000010000000000000003', hidden: true });
    expect(segmentOfArchiveFile('.000000010000000000000003.00000028.backup.partial')).toEqual({ segment: '000000010000000000000003', hidden: true });
    for (const other of [
      '00000002.history',
      '.00000002.history.partial',
      RETENTION_FILE,
      '.000000010000000000000003',
      'notes.txt',
      '00000001000000000000003',
      '000000010000000000000003.gz',
      '000000010000000000000003.backup',
      'lost+found',
    ]) {
      expect(segmentOfArchiveFile(other)).toBeUndefined();
    }
  });

  it('removes segments strictly before end_wal; end_wal and everything after it stay', () => {
    const names = ['000000010000000000000001', '000000010000000000000002', '000000010000000000000003', '000000010000000000000004', '000000010000000000000005'];
    expect(prunable(entries(names), cutoff('000000010000000000000004'), NOW)).toEqual([
      '000000010000000000000001',
      '000000010000000000000002',
      '000000010000000000000003',
    ]);
    // A backup ending in the archive's first segment removes nothing.
    expect(prunable(entries(names), cutoff('000000010000000000000001'), NOW)).toEqual([]);
  });

  it('compares segment numbers across log ids, not names as text', () => {
    const names = ['0000000100000000000000FE', '0000000100000000000000FF', '000000010000000100000000', '000000010000000100000001'];
    expect(prunable(entries(names), cutoff('000000010000000100000000'), NOW)).toEqual(['0000000100000000000000FE', '0000000100000000000000FF']);
    // 64 MiB segments: 64 per log id, so ...00000040 is no file of that size and is left alone.
    const big = ['00000001000000000000003F', '000000010000000100000000', '000000010000000000000040'];
    expect(prunable(entries(big), cutoff('000000010000000100000000', 64 * 1024 * 1024), NOW)).toEqual(['00000001000000000000003F']);
  });

  it("prunes only the backup's timeline, and keeps every history file", () => {
    const names = [
      '000000010000000000000002', // timeline 1, lower number: another timeline, kept
      '000000010000000000000007.partial', // timeline 1's last segment, left by a promotion: kept
      '00000002.history',
      '00000003.history',
      '000000020000000000000006',
      '000000020000000000000007',
      '000000020000000000000008',
      '000000030000000000000001', // a later timeline with a lower number: kept
    ];
    expect(prunable(entries(names), cutoff('000000020000000000000008'), NOW)).toEqual(['000000020000000000000006', '000000020000000000000007']);
  });

  it('removes partial segments, backup history files and leftover hidden copies before end_wal, but not a copy in progress', () => {
    const old = NOW - TEMP_GRACE_MS;
    const fresh = NOW - 1000;
    const list = [
      { name: '000000010000000000000003.partial', mtimeMs: fresh },
      { name: '000000010000000000000003.00000028.backup', mtimeMs: fresh },
      { name: '000000010000000000000005.00000060.backup', mtimeMs: fresh }, // the latest backup's own start: kept
      { name: '.000000010000000000000002.partial', mtimeMs: old }, // a copy a crash left: removed
      { name: '.000000010000000000000003.partial', mtimeMs: fresh }, // the archiver may be writing it: kept
      { name: '.000000010000000000000005.partial', mtimeMs: old }, // not before end_wal: kept
      { name: '.00000002.history.partial', mtimeMs: old },
      { name: '000000010000000000000005', mtimeMs: fresh },
    ];
    expect(prunable(list, cutoff('000000010000000000000005'), NOW)).toEqual([
      '000000010000000000000003.partial',
      '000000010000000000000003.00000028.backup',
      '.000000010000000000000002.partial',
    ]);
  });

  it('refuses to judge with a cutoff that is no segment name', () => {
    expect(() => prunable(entries(['000000010000000000000001']), cutoff('00000001000000000000000'), NOW)).toThrow();
    expect(() => prunable(entries(['000000010000000000000001']), cutoff('000000010000000000000100'), NOW)).toThrow(/not a segment/);
  });
});

describe('WAL archive pruning on disk', () => {
  const seg = (n: number, tl = 1) => `${tl.toString(16).toUpperCase().padStart(8, '0')}00000000${n.toString(16).toUpperCase().padStart(8, '0')}`;

  function archive(files: Record<string, number>): string {
    const d = tempDir();
    for (const [name, size] of Object.entries(files)) writeFileSync(join(d, name), Buffer.alloc(size));
    return d;
  }

  it('removes what the rule selects, counts segments and bytes, and records the cutoff first', async () => {
    const dir = archive({ [seg(1)]: 1000, [seg(2)]: 1000, [`${seg(2)}.00000028.backup`]: 300, [seg(3)]: 1000, [seg(4)]: 1000, '00000002.history': 40 });
    const r = await pruneWalArchive(dir, cutoff(seg(3)), NOW);
    expect(r).toEqual({ segments: 2, files: 3, bytes: 2300 });
    expect(readdirSync(dir).sort()).toEqual([RETENTION_FILE, '00000002.history', seg(3), seg(4)].sort());
    expect(await readRetention(dir)).toEqual(cutoff(seg(3)));
    // Again: nothing more to remove.
    expect(await pruneWalArchive(dir, cutoff(seg(3)), NOW)).toEqual({ segments: 0, files: 0, bytes: 0 });
  });

  it('keeps the furthest cutoff on a timeline as the record', async () => {
    const dir = archive({ [seg(5)]: 10 });
    await pruneWalArchive(dir, { ...cutoff(seg(5)), backupId: 'later' }, NOW);
    await pruneWalArchive(dir, { ...cutoff(seg(4)), backupId: 'earlier' }, NOW);
    expect((await readRetention(dir))?.backupId).toBe('later');
    await pruneWalArchive(dir, { ...cutoff(seg(1, 2)), backupId: 'new-timeline' }, NOW);
    expect((await readRetention(dir))?.backupId).toBe('new-timeline');
  });

  it('leaves a hidden copy younger than the grace period', async () => {
    const dir = archive({ [`.${seg(1)}.partial`]: 10, [`.${seg(2)}.partial`]: 10 });
    const old = (NOW - TEMP_GRACE_MS - 1000) / 1000;
    utimesSync(join(dir, `.${seg(1)}.partial`), old, old);
    const now = (NOW - 1000) / 1000;
    utimesSync(join(dir, `.${seg(2)}.partial`), now, now);
    expect(await pruneWalArchive(dir, cutoff(seg(3)), NOW)).toEqual({ segments: 0, files: 1, bytes: 10 });
    expect(readdirSync(dir)).toContain(`.${seg(2)}.partial`);
  });

  describe('after a backup (best-effort, driven by its recorded facts)', () => {
    const facts: PgBackupFacts = {
      format: 'wal-tar',
      timeline: 1,
      startLsn: '0/3000100',
      endLsn: '0/456E4B0',
      startWal: seg(3),
      endWal: seg(4),
      restorePoint: 'steward-incr-1-0011aabb',
      segmentSize: MB16,
      systemIdentifier: '7441234567890123456',
      versionNum: 150014,
    };
    const artifact = (f: Record<string, string>): BackupArtifact =>
      ({ backupId: 'incr-1', instanceId: 'i', datastore: 'postgresql', type: BackupType.INCREMENTAL, parentId: 'full-1', facts: f }) as BackupArtifact;

    function context() {
      const stateDir = tempDir();
      const lines: Array<{ level: number; msg: string }> = [];
      const log = createLogger('t', { level: 'info', destination: { write: (l: string) => void lines.push(JSON.parse(l)) } });
      return { stateDir, log, lines };
    }

    it("prunes up to the backup's end_wal and logs what it removed", async () => {
      const ctx = context();
      const dir = join(ctx.stateDir, 'wal-archive');
      mkdirSync(dir);
      for (const n of [2, 3, 4, 5]) writeFileSync(join(dir, seg(n)), Buffer.alloc(100));
      expect(await pruneAfterBackup(ctx, artifact(toFacts(facts)))).toEqual({ segments: 2, files: 2, bytes: 200 });
      expect(
        readdirSync(dir)
          .filter((n) => !n.startsWith('.'))
          .sort(),
      ).toEqual([seg(4), seg(5)]);
      expect(ctx.lines.at(-1)).toMatchObject({ msg: expect.stringMatching(/pruned/), segments: 2, bytes: 200, keepFrom: seg(4) });
    });

    it('prunes nothing when the facts are missing or unusable, and does not throw', async () => {
      for (const bad of [
        {},
        { ...toFacts(facts), end_wal: 'garbage' },
        { ...toFacts(facts), wal_segment_size: '1000' },
        { ...toFacts(facts), timeline: '2' },
      ]) {
        const ctx = context();
        const dir = join(ctx.stateDir, 'wal-archive');
        mkdirSync(dir);
        writeFileSync(join(dir, seg(1)), 'x');
        expect(await pruneAfterBackup(ctx, artifact(bad))).toBeUndefined();
        expect(readdirSync(dir)).toEqual([seg(1)]);
        expect(ctx.lines.at(-1)).toMatchObject({ level: 40, msg: expect.stringMatching(/not pruned/) });
      }
    });

    it('logs a failure as a warning instead of failing the backup', async () => {
      const ctx = context(); // no wal-archive directory at all
      expect(await pruneAfterBackup(ctx, artifact(toFacts(facts)))).toBeUndefined();
      expect(ctx.lines.at(-1)).toMatchObject({ level: 40, msg: expect.stringMatching(/pruning failed/) });
    });
  });

  it('measures the archive for the probe: bytes of every file, whole segments counted', async () => {
    const dir = archive({ [seg(1)]: 100, [seg(2)]: 100, '00000002.history': 7, [`.${seg(3)}.partial`]: 50 });
    expect(await walArchiveUsage(dir)).toEqual({ bytes: 257, segments: 2 });
    await expect(walArchiveUsage(join(dir, 'missing'))).rejects.toThrow();
  });
});

describe('the refusal an older parent gets once its WAL is pruned', () => {
  it('names the later backup and suggests a full backup or that backup as parent', () => {
    const pruned = cutoff('000000010000000000000009');
    const why = explainMissing('000000010000000000000004', 'full-1', pruned);
    expect(why).toMatch(/pruned after the later backup incr-2/);
    expect(why).toMatch(/take a full backup, or an incremental with incr-2 as its parent/);
  });

  it('does not blame pruning for a segment it kept, another timeline, or an archive never pruned', () => {
    for (const [missing, pruned] of [
      ['000000010000000000000009', cutoff('000000010000000000000009')],
      ['00000001000000000000000A', cutoff('000000010000000000000009')],
      ['000000020000000000000004', cutoff('000000010000000000000009')],
      ['000000010000000000000004', undefined],
    ] as const) {
      expect(explainMissing(missing, 'full-1', pruned)).toBe('; take a full backup');
    }
  });
});
