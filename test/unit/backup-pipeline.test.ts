// The shared backup pipeline with real files, a real zstd process and real
// libsodium: round trips in every compression, and every way a stored backup
// can be wrong is refused before a byte of it is handed on.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { Readable, Writable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import sodium from 'sodium-native';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupArtifact, BackupType } from '../../proto/gen/steward/v1/backups.js';
import { asStewardError } from '../../managers/sdk/errors.js';
import { feedStage, spawnStage } from '../../managers/sdk/backup/child-stream.js';
import { COMPRESSIONS, zstdCountsBytes, zstdSizes, type Compression } from '../../managers/sdk/backup/compression.js';
import { newDataKey, unwrapDataKey, wrapDataKey } from '../../managers/sdk/backup/keys.js';
import { dataKey as dataObject } from '../../managers/sdk/backup/layout.js';
import { dataKeyOf, discardBackup, fetchVerified, gatedByExit, openVerified, saveStream } from '../../managers/sdk/backup/pipeline.js';
import { tap } from '../../managers/sdk/backup/digest.js';
import { ENCRYPTION, RECORD_PLAINTEXT, decryptStream, sealStream } from '../../managers/sdk/backup/secretstream.js';
import { FileSink, FilesystemStorage } from '../../managers/sdk/backup/storage/filesystem.js';

const signal = new AbortController().signal;

/** Half random, half repetitive: compressible, but not trivially. */
function payload(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let o = 0; o < size; o += 8192) {
    const n = Math.min(8192, size - o);
    if ((o / 8192) % 2 === 0) randomBytes(n).copy(b, o);
    else b.fill(`row ${o} `, o, o + n);
  }
  return b;
}

async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('backup pipeline (filesystem storage)', () => {
  let root: string;
  let staging: string;
  let storage: FilesystemStorage;
  const wrappingKey = randomBytes(32);

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'steward-bk-'));
    staging = mkdtempSync(join(tmpdir(), 'steward-stage-'));
    storage = new FilesystemStorage(join(root, 'store'));
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(staging, { recursive: true, force: true });
  });

  async function save(id: string, data: Buffer | Readable, compression: Compression) {
    const key = newDataKey();
    const saved = await saveStream({
      source: Buffer.isBuffer(data) ? Readable.from(chunks(data)) : data,
      storage,
      key: dataObject('inst-1', id),
      dataKey: key,
      compression,
      signal,
    });
    const artifact = BackupArtifact.fromPartial({
      backupId: id,
      instanceId: 'inst-1',
      datastore: 'test',
      type: BackupType.FULL,
      ...saved,
      compression,
      encryption: ENCRYPTION,
      wrappedKey: wrapDataKey(key, wrappingKey, id),
    });
    return artifact;
  }

  /** Irregular chunk sizes, as a pipe delivers them. */
  function* chunks(b: Buffer) {
    let o = 0;
    let i = 0;
    while (o < b.length) {
      const n = [1, 7, 65_536, 100_003, 3][i++ % 5];
      yield b.subarray(o, o + n);
      o += n;
    }
  }

  async function restore(a: BackupArtifact, file = join(staging, `${a.backupId}-${randomBytes(3).toString('hex')}`)): Promise<Buffer> {
    await fetchVerified({ storage, artifact: a, stagingFile: file, signal });
    const out = await readAll(openVerified(file, a, dataKeyOf(a, { keyRef: 'k', wrappingKey }), signal));
    rmSync(file);
    return out;
  }

  for (const compression of COMPRESSIONS) {
    it(`round-trips through ${compression}, at record boundaries too`, async () => {
      for (const size of [0, 1, RECORD_PLAINTEXT - 1, RECORD_PLAINTEXT, RECORD_PLAINTEXT * 3, 5_000_017]) {
        const data = payload(size);
        const a = await save(`rt-${compression}-${size}`, data, compression);
        expect(a.rawSize).toBe(size);
        expect(a.checksum).toMatch(/^sha256:[0-9a-f]{64}$/);
        expect(a.location).toBe(`file://${join(root, 'store', 'inst-1', `rt-${compression}-${size}`, 'data')}`);
        const stored = readFileSync(join(root, 'store', 'inst-1', a.backupId, 'data'));
        expect(stored.length).toBe(a.size);
        expect(`sha256:${sha(stored)}`).toBe(a.checksum);
        // Encrypted: the stored bytes never contain the plaintext's repetitive half.
        if (size > 16_384) expect(stored.includes(Buffer.from('row 8192 row 8192'))).toBe(false);
        const back = await restore(a);
        expect(back.length).toBe(size);
        expect(sha(back)).toBe(sha(data));
      }
    });
  }

  it('compression makes the repetitive half small', async () => {
    const data = payload(4_000_000);
    const none = await save('ratio-none', data, 'none');
    const zstd = await save('ratio-zstd', data, 'zstd');
    const gzip = await save('ratio-gzip', data, 'gzip');
    expect(none.size).toBeGreaterThan(4_000_000);
    expect(zstd.size).toBeLessThan(none.size * 0.6);
    expect(gzip.size).toBeLessThan(none.size * 0.6);
  });

  async function refused(p: Promise<unknown>): Promise<string> {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err, 'expected a refusal').toBeDefined();
    return asStewardError(err).message;
  }

  it('a flipped byte in the stored object is refused by the checksum, and the staging file is removed', async () => {
    const a = await save('flip', payload(1_000_000), 'zstd');
    const path = join(root, 'store', 'inst-1', 'flip', 'data');
    const bytes = readFileSync(path);
    bytes[Math.floor(bytes.length / 2)] ^= 0x01;
    writeFileSync(path, bytes);
    const file = join(staging, 'flip');
    const msg = await refused(fetchVerified({ storage, artifact: a, stagingFile: file, signal }));
    expect(msg).toMatch(/backup flip is corrupt .*checksum .* does not match the recorded/);
    expect(existsSync(file)).toBe(false);
  });

  it('an object that was altered and re-checksummed still fails authentication (the cipher checks every record)', async () => {
    const a = await save('forged', payload(300_000), 'none');
    const path = join(root, 'store', 'inst-1', 'forged', 'data');
    const bytes = readFileSync(path);
    bytes[100_000] ^= 0x80;
    writeFileSync(path, bytes);
    const forged = { ...a, checksum: `sha256:${sha(bytes)}` };
    expect(await refused(restore(forged))).toMatch(/does not decrypt: a record failed authentication/);
  });

  it('a truncated object is refused even when its record says it is complete', async () => {
    const a = await save('short', payload(RECORD_PLAINTEXT * 4), 'none');
    const path = join(root, 'store', 'inst-1', 'short', 'data');
    const cut = readFileSync(path).subarray(0, 24 + (RECORD_PLAINTEXT + 17) * 2);
    writeFileSync(path, cut);
    expect(await refused(restore({ ...a, size: cut.length, checksum: `sha256:${sha(cut)}` }))).toMatch(/final record is missing/);
    expect(await refused(restore(a))).toMatch(/bytes stored, .* recorded/);
  });

  it('the data key opens only with the right wrapping key and for its own backup id', async () => {
    const key = newDataKey();
    const wrapped = wrapDataKey(key, wrappingKey, 'b1');
    expect(unwrapDataKey(wrapped, wrappingKey, 'b1').equals(key)).toBe(true);
    expect(() => unwrapDataKey(wrapped, randomBytes(32), 'b1')).toThrow(/does not open/);
    expect(() => unwrapDataKey(wrapped, wrappingKey, 'b2')).toThrow(/does not open/);
    const a = await save('wrongkey', payload(1000), 'none');
    expect(() => dataKeyOf(a, { keyRef: 'x', wrappingKey: randomBytes(32) })).toThrow(/does not open/);
  });

  // zstd reads the tool directly (the gate handed over in the same tick); gzip and none hold the end at the gate.
  for (const compression of COMPRESSIONS) {
    it(`a tool that fails after writing leaves no object behind (${compression})`, async () => {
      const id = `toolfail-${compression}`;
      const tool = spawnStage({ command: 'sh', args: ['-c', 'head -c 3000000 /dev/urandom; echo "disk on fire" >&2; exit 3'] }, signal);
      const err = await refused(
        saveStream({ source: gatedByExit(tool.output, tool.exited), storage, key: dataObject('inst-1', id), dataKey: newDataKey(), compression, signal }),
      );
      expect(err).toMatch(/sh exited with 3: disk on fire/);
      expect(await storage.listAll(`inst-1/${id}`)).toEqual([]);
      await discardBackup(storage, 'inst-1', id);
      expect(existsSync(join(root, 'store', 'inst-1', id))).toBe(false);
    });
  }

  // zstd reads a tool's output directly when saveStream gets the gate in the same tick as the tool's output
  // (what strategies do); otherwise the bytes pass through this process as before. Both count the same.
  for (const sameTick of [true, false]) {
    it(`a tool's output into zstd ${sameTick ? 'directly' : 'through this process'}: exact native size, progress, and it restores`, async () => {
      const data = payload(7_000_000 + 13);
      const file = join(staging, `tool-input-${sameTick}`);
      writeFileSync(file, data);
      const tool = spawnStage({ command: 'cat', args: [file] }, signal);
      const source = gatedByExit(tool.output, tool.exited);
      if (!sameTick) await new Promise((r) => setImmediate(r));
      let progress = 0;
      const key = newDataKey();
      const id = `splice-${sameTick}`;
      const saved = await saveStream({
        source,
        storage,
        key: dataObject('inst-1', id),
        dataKey: key,
        compression: 'zstd',
        signal,
        onRawBytes: (n) => (progress = n),
      });
      expect(saved.rawSize).toBe(data.length);
      expect(progress).toBe(data.length);
      // Directly: not one byte of the tool's output was read by this process.
      expect((tool.output as Socket).bytesRead).toBe(sameTick ? 0 : data.length);
      const a = BackupArtifact.fromPartial({
        backupId: id,
        instanceId: 'inst-1',
        ...saved,
        compression: 'zstd',
        encryption: ENCRYPTION,
        wrappedKey: wrapDataKey(key, wrappingKey, id),
      });
      expect(sha(await restore(a))).toBe(sha(data));
    });
  }

  it('zstd sizes are read from its closing line, in the formats of zstd 1.5 and 1.4', () => {
    expect(zstdCountsBytes()).toBe(true);
    expect(zstdSizes('Note: 2 physical core(s) detected\n/*stdin*\\            : 52.65%   (1073281918 B => 565090912 B, /*stdout*\\) \n')).toEqual({
      raw: 1073281918,
      compressed: 565090912,
    });
    expect(zstdSizes('/*stdin*\\            : 35.61%   (  1073281918 =>  382213519 bytes, /*stdout*\\) ')).toEqual({ raw: 1073281918, compressed: 382213519 });
    expect(zstdSizes('/*stdin*\\ : 52.65%   (  1.00 GiB =>    539 MiB, /*stdout*\\)')).toBeUndefined();
  });

  it('a cancelled backup into zstd stops the tool and zstd, and leaves no object behind', async () => {
    const ac = new AbortController();
    const tool = spawnStage({ command: 'sh', args: ['-c', 'exec cat /dev/urandom'] }, ac.signal);
    const saving = saveStream({
      source: gatedByExit(tool.output, tool.exited),
      storage,
      key: dataObject('inst-1', 'cancel-zstd'),
      dataKey: newDataKey(),
      compression: 'zstd',
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(new Error('cancelled')), 300);
    await refused(saving);
    await tool.exited.catch(() => undefined);
    expect(readdirSync(join(root, 'store', 'inst-1', 'cancel-zstd'))).toEqual([]);
  });

  it('a cancelled backup stops the tool and leaves no object behind', async () => {
    const ac = new AbortController();
    const tool = spawnStage({ command: 'sh', args: ['-c', 'exec cat /dev/urandom'] }, ac.signal);
    const saving = saveStream({
      source: gatedByExit(tool.output, tool.exited),
      storage,
      key: dataObject('inst-1', 'cancel'),
      dataKey: newDataKey(),
      compression: 'gzip',
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(new Error('cancelled')), 300);
    await refused(saving);
    await tool.exited.catch(() => undefined);
    expect(readdirSync(join(root, 'store', 'inst-1', 'cancel'))).toEqual([]);
  });
});

// The stored format is libsodium's secretstream as documented, whatever the
// pipeline does for speed (batching records, reusing buffers): checked against
// libsodium's own push and pull, one record at a time, the way the first
// version of the pipeline wrote it.
describe('secretstream format', () => {
  const HEADER = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES;
  const ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES;
  const RECORD = RECORD_PLAINTEXT + ABYTES;
  const TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
  const TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL;

  /** Reference writer: one libsodium push per 64 KiB record, the final (short, maybe empty) one tagged FINAL. */
  function referenceEncrypt(key: Buffer, data: Buffer): Buffer {
    const state = Buffer.alloc(sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES);
    const header = Buffer.alloc(HEADER);
    sodium.crypto_secretstream_xchacha20poly1305_init_push(state, header, key);
    const parts = [header];
    let o = 0;
    for (; data.length - o >= RECORD_PLAINTEXT; o += RECORD_PLAINTEXT) {
      const c = Buffer.alloc(RECORD);
      sodium.crypto_secretstream_xchacha20poly1305_push(state, c, data.subarray(o, o + RECORD_PLAINTEXT), null, TAG_MESSAGE);
      parts.push(c);
    }
    const last = Buffer.alloc(data.length - o + ABYTES);
    sodium.crypto_secretstream_xchacha20poly1305_push(state, last, data.subarray(o), null, TAG_FINAL);
    parts.push(last);
    return Buffer.concat(parts);
  }

  /** Reference reader: splits at record boundaries and pulls each record with libsodium, checking the tags. */
  function referenceDecrypt(key: Buffer, stored: Buffer): Buffer {
    const state = Buffer.alloc(sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES);
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, stored.subarray(0, HEADER), key);
    const parts: Buffer[] = [];
    const tag = Buffer.alloc(1);
    for (let o = HEADER; o < stored.length; o += RECORD) {
      const c = stored.subarray(o, o + RECORD);
      const m = Buffer.alloc(c.length - ABYTES);
      sodium.crypto_secretstream_xchacha20poly1305_pull(state, m, tag, c, null);
      expect(tag[0]).toBe(o + RECORD >= stored.length ? TAG_FINAL : TAG_MESSAGE);
      parts.push(m);
    }
    return Buffer.concat(parts);
  }

  /** Irregular chunks, some spanning several records. */
  function* pieces(b: Buffer, sizes = [1, 7, 65_536, 100_003, 3, 1_500_000, 65_553]) {
    for (let o = 0, i = 0; o < b.length; o += sizes[i++ % sizes.length]) yield b.subarray(o, o + sizes[i % sizes.length]);
  }

  const through = async (t: Duplex, data: Buffer, sizes?: number[]) => readAll(Readable.from(pieces(data, sizes)).pipe(t));

  const sizes = [0, 1, RECORD_PLAINTEXT - 1, RECORD_PLAINTEXT, RECORD_PLAINTEXT + 1, 16 * RECORD_PLAINTEXT, 16 * RECORD_PLAINTEXT + 5, 3_000_017];

  it('sealStream (worker threads) writes what libsodium reads record by record, batched or not, with the sha256 and length of what it passed on', async () => {
    const key = newDataKey();
    for (const size of sizes) {
      const data = randomBytes(size);
      for (const batchRecords of [undefined, 1, 4]) {
        const t = sealStream(key, { batchRecords });
        const stored = await through(t, data);
        expect(stored.length).toBe(HEADER + Math.floor(size / RECORD_PLAINTEXT) * RECORD + (size % RECORD_PLAINTEXT) + ABYTES);
        expect(referenceDecrypt(key, stored).equals(data)).toBe(true);
        expect(t.bytes).toBe(stored.length);
        expect(t.checksum()).toBe(`sha256:${sha(stored)}`);
      }
    }
  });

  it('sealStream keeps to its memory bound under a slow reader that hands chunks back, and does not stall', async () => {
    const key = newDataKey();
    const data = randomBytes(48 * 1024 * 1024 + 12_345);
    const t = sealStream(key);
    const got: Buffer[] = [];
    let maxBuffered = 0;
    const slow = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _e, cb) {
        maxBuffered = Math.max(maxBuffered, t.readableLength);
        got.push(Buffer.from(chunk)); // a copy: the original goes back for reuse
        t.release(chunk);
        setTimeout(cb, 1);
      },
    });
    await pipeline(Readable.from(pieces(data)), t, slow);
    const stored = Buffer.concat(got);
    expect(referenceDecrypt(key, stored).equals(data)).toBe(true);
    expect(t.checksum()).toBe(`sha256:${sha(stored)}`);
    expect(maxBuffered).toBeLessThan(16 * 1024 * 1024);
  });

  it('sealStream fails with its source and stops its workers', async () => {
    const t = sealStream(newDataKey());
    let n = 0;
    const failing = new Readable({
      read() {
        if (n++ < 20) this.push(randomBytes(500_000));
        else this.destroy(new Error('tool died'));
      },
    });
    await expect(pipeline(failing, t, new Writable({ write: (_c, _e, cb) => cb() }))).rejects.toThrow(/tool died/);
    expect(() => t.checksum()).toThrow(/once the stream has ended/);
  });

  it('decryptStream reads what libsodium wrote record by record (backups written before batching)', async () => {
    const key = newDataKey();
    for (const size of sizes) {
      const data = randomBytes(size);
      const stored = referenceEncrypt(key, data);
      for (const chunking of [undefined, [1], [RECORD], [RECORD + 1], [HEADER, RECORD - 1]]) {
        if (chunking?.[0] === 1 && size > RECORD_PLAINTEXT) continue; // byte by byte: small streams only
        expect((await through(decryptStream(key), stored, chunking)).equals(data)).toBe(true);
      }
    }
  });

  it('decryptStream refuses data after the final record, and a stream cut at a record boundary', async () => {
    const key = newDataKey();
    const stored = referenceEncrypt(key, randomBytes(3 * RECORD_PLAINTEXT + 10));
    const err = (p: Promise<unknown>) =>
      p.then(
        () => 'accepted',
        (e: Error) => e.message,
      );
    expect(await err(through(decryptStream(key), Buffer.concat([stored, stored.subarray(HEADER, HEADER + 40)])))).toMatch(
      /data after the final record|failed authentication/,
    );
    expect(await err(through(decryptStream(key), stored.subarray(0, HEADER + 2 * RECORD)))).toMatch(/final record is missing/);
  });
});

describe('checksum tap', () => {
  for (const offThread of [false, true]) {
    it(`hashes and counts exactly what passes (${offThread ? 'worker thread' : 'event loop'}), chunks larger than the ring too`, async () => {
      for (const sizes of [[0], [1], [65_536, 3], [10 * 1024 * 1024 + 7, 1, 999_999]]) {
        const chunks = sizes.map((n) => randomBytes(n));
        const all = Buffer.concat(chunks);
        const t = tap({ hash: true, offThread });
        const out = await readAll(Readable.from(chunks.filter((c) => c.length)).pipe(t));
        expect(out.equals(all)).toBe(true);
        expect(t.bytes).toBe(all.length);
        expect(t.checksum()).toBe(`sha256:${sha(all)}`);
      }
    });
  }

  it('a failing stream stops the hashing worker without an answer', async () => {
    const t = tap({ hash: true, offThread: true });
    const failing = new Readable({
      read() {
        this.push(randomBytes(100_000));
        this.destroy(new Error('source broke'));
      },
    });
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    await expect(pipeline(failing, t, sink)).rejects.toThrow(/source broke/);
    expect(() => t.checksum()).toThrow(/once the stream has ended/);
  });
});

describe('filesystem sink', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'steward-sink-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes every chunk in order, flushing as it goes, and hands each back once written', async () => {
    const chunks = Array.from({ length: 40 }, (_, i) => randomBytes(1 + ((i * 7919) % 300_000)));
    const handedBack: Buffer[] = [];
    const file = join(dir, 'sink');
    // The file handle, counting the flushes asked of it.
    const fh = await open(file, 'wx', 0o600);
    const flushes = { datasync: 0, sync: 0 };
    const counted = new Proxy(fh, {
      get(target, prop) {
        const v = Reflect.get(target, prop) as unknown;
        if (typeof v !== 'function') return v;
        if (prop === 'datasync' || prop === 'sync') flushes[prop]++;
        return (v as (...a: unknown[]) => unknown).bind(target);
      },
    });
    await pipeline(Readable.from(chunks), new FileSink(counted, { syncEvery: 1_000_000, written: (c) => handedBack.push(c) }));
    expect(readFileSync(file).equals(Buffer.concat(chunks))).toBe(true);
    // Flushed while writing (about 6 MB, every 1 MB, one flush at a time), and fsynced once at the end.
    expect(flushes.datasync).toBeGreaterThan(0);
    expect(flushes.sync).toBe(1);
    expect(handedBack.length).toBe(chunks.length);
    expect(handedBack.every((c, i) => c === chunks[i])).toBe(true);
  });
});

describe('feeding an extractor', () => {
  it('a stream that fails mid-way: the extractor is gone before the error is thrown, and the stream error is the one reported', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'feed-'));
    try {
      // An extractor that keeps writing into its directory for as long as it runs.
      const stage = spawnStage({ command: 'sh', args: ['-c', `while :; do date > "${dir}/f.$$"; sleep 0.01; done`] }, undefined, { stdin: true });
      const failing = new Readable({
        read() {
          setTimeout(() => this.destroy(new Error('backup data does not decrypt')), 50);
        },
      });
      await expect(feedStage(stage, [failing])).rejects.toThrow(/does not decrypt/);
      expect(() => process.kill(stage.pid!, 0)).toThrow(); // exited: nothing writes into the directory any more
      rmSync(dir, { recursive: true });
      expect(existsSync(dir)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an extractor that fails: its own exit says why, not the broken pipe', async () => {
    const stage = spawnStage({ command: 'sh', args: ['-c', 'echo "not an archive" >&2; exit 2'] }, undefined, { stdin: true });
    await expect(feedStage(stage, [Readable.from([Buffer.alloc(1 << 20), Buffer.alloc(1 << 20)])])).rejects.toThrow(/sh exited with 2: not an archive/);
  });
});
