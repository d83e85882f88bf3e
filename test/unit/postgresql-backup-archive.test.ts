// The shell commands the server runs for the WAL archive (archive_command,
// restore_command), run here with /bin/sh the way the server runs them; and
// the tar scanner a full backup's stream passes through, fed a real tar in
// awkward chunk sizes.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { tarNumber, tarScanner } from '../../managers/postgresql/tar-scan.js';
import { archiveCommand, restoreCommand, shellQuote } from '../../managers/postgresql/wal-archive.js';

const dirs: string[] = [];
const tempDir = (prefix: string): string => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** What the server does with archive_command/restore_command: expand %p, %f and %%, run with sh in the data directory. */
function runAsServer(command: string, p: string, f: string, cwd: string): number {
  const expanded = command.replace(/%([pf%])/g, (_m, c: string) => (c === 'p' ? p : c === 'f' ? f : '%'));
  return spawnSync('/bin/sh', ['-c', expanded], { cwd, stdio: 'ignore' }).status ?? -1;
}

describe('WAL archive commands', () => {
  const seg = '000000010000000000000003';

  it('quotes any path for the shell', () => {
    expect(execFileSync('/bin/sh', ['-c', `printf %s ${shellQuote("it's a $HOME `x` dir")}`]).toString()).toBe("it's a $HOME `x` dir");
  });

  for (const name of ['wal-archive', "odd ar'chive %f 100%"]) {
    it(`archives a segment whole, accepts the same one again and refuses different content (${JSON.stringify(name)})`, () => {
      const root = tempDir('steward-arch-');
      const data = join(root, 'data');
      const archive = join(root, name);
      mkdirSync(join(data, 'pg_wal'), { recursive: true });
      mkdirSync(archive);
      const body = Buffer.alloc(64 * 1024, 7);
      writeFileSync(join(data, 'pg_wal', seg), body);
      const cmd = archiveCommand(archive);

      expect(runAsServer(cmd, `pg_wal/${seg}`, seg, data)).toBe(0);
      expect(readdirSync(archive)).toEqual([seg]); // no temporary file left
      expect(readFileSync(join(archive, seg)).equals(body)).toBe(true);
      // The archiver may retry a segment it already archived (crash before recording success): fine when identical.
      expect(runAsServer(cmd, `pg_wal/${seg}`, seg, data)).toBe(0);
      // Different content under the same name is never overwritten.
      writeFileSync(join(data, 'pg_wal', seg), Buffer.alloc(64 * 1024, 8));
      expect(runAsServer(cmd, `pg_wal/${seg}`, seg, data)).not.toBe(0);
      expect(readFileSync(join(archive, seg)).equals(body)).toBe(true);

      // restore_command: copies what is there; "not found" is a plain failure.
      const restore = restoreCommand(archive);
      expect(runAsServer(restore, 'pg_wal/RECOVERYXLOG', seg, data)).toBe(0);
      expect(readFileSync(join(data, 'pg_wal', 'RECOVERYXLOG')).equals(body)).toBe(true);
      expect(runAsServer(restore, 'pg_wal/RECOVERYXLOG', '000000010000000000000004', data)).not.toBe(0);
      expect(runAsServer(restore, 'pg_wal/RECOVERYHISTORY', '00000002.history', data)).not.toBe(0);
    });
  }
});

/** Feeds `bytes` through a scanner in chunks of the given sizes (cycled); returns what came out and the scan. */
async function scanIn(bytes: Buffer, sizes: number[]) {
  const chunks: Buffer[] = [];
  for (let off = 0, i = 0; off < bytes.length; i++) {
    const n = sizes[i % sizes.length];
    chunks.push(bytes.subarray(off, off + n));
    off += n;
  }
  const scan = tarScanner();
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), scan, new Writable({ write: (c: Buffer, _e, cb) => (out.push(c), cb()) }));
  return { out: Buffer.concat(out), result: scan.result() };
}

describe('tar scanner', () => {
  const label = 'START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nSTART TIMELINE: 1\n';
  // A manifest bigger than the tail the scanner keeps: only the end must come through.
  const manifest = `{"Files": [${'{"Path": "base/1/1234", "Size": 8192},\n'.repeat(2000)}],\n"WAL-Ranges": [\n{ "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/2000100" }\n]}\n`;

  function makeTar(format: string): Buffer {
    const d = tempDir('steward-tar-');
    mkdirSync(join(d, 'base', '1'), { recursive: true });
    mkdirSync(join(d, 'pg_wal', 'archive_status'), { recursive: true });
    writeFileSync(join(d, 'backup_label'), label);
    writeFileSync(join(d, 'base', '1', '1234'), Buffer.alloc(8192 * 3 + 17, 1));
    writeFileSync(join(d, 'PG_VERSION'), '15\n');
    writeFileSync(join(d, 'pg_wal', '000000010000000000000002'), Buffer.alloc(40_000, 2));
    writeFileSync(join(d, 'pg_wal', '00000002.history'), '1\t0/3000000\tno recovery target specified\n');
    writeFileSync(join(d, 'pg_wal', 'archive_status', '000000010000000000000002.done'), '');
    writeFileSync(join(d, 'backup_manifest'), manifest);
    const members = ['backup_label', 'base', 'PG_VERSION', 'pg_wal', 'backup_manifest'];
    return execFileSync('tar', ['-c', '-f', '-', `--format=${format}`, '-C', d, ...members], { maxBuffer: 1 << 26 });
  }

  for (const format of ['ustar', 'gnu', 'posix']) {
    it(`passes a ${format} tar through unchanged and reads its label, manifest tail and WAL members`, async () => {
      const tar = makeTar(format);
      for (const sizes of [[tar.length], [1, 2, 3, 509], [7, 511, 513, 4096], [65536]]) {
        const { out, result } = await scanIn(tar, sizes);
        expect(out.equals(tar)).toBe(true);
        expect(result.ended).toBe(true);
        expect(result.label).toBe(label);
        expect(manifest.endsWith(result.manifestTail!)).toBe(true);
        expect(result.manifestTail!.length).toBeLessThan(manifest.length);
        expect(result.manifestTail).toContain('"End-LSN": "0/2000100"');
        expect(result.walFiles).toEqual(['000000010000000000000002', '00000002.history']);
      }
    });
  }

  it('refuses a stream that is not a tar', async () => {
    await expect(scanIn(Buffer.alloc(4096, 0x41), [1000])).rejects.toThrow(/not a tar stream/);
  });

  it('reads octal and base-256 size fields', () => {
    expect(tarNumber(Buffer.from('00000001750\0'))).toBe(1000);
    expect(tarNumber(Buffer.from('        \0'))).toBe(0);
    const big = Buffer.alloc(12);
    big[0] = 0x80;
    big.writeUIntBE(9 * 2 ** 30, 6, 6); // 9 GiB does not fit 11 octal digits
    expect(tarNumber(big)).toBe(9 * 2 ** 30);
  });
});
