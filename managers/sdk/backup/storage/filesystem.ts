// The `filesystem` backend: a directory (local disk or a mounted share). An
// object is written to a hidden temporary file in its final directory,
// fsynced, then renamed: it appears complete or not at all. A crash leaves only
// the temporary, which deletePrefix removes with the rest of the backup.
//
// Writing: the data is flushed to disk while the backup runs (an fdatasync in
// the background every SYNC_EVERY bytes, one at a time), not all at the end,
// so the disk works alongside the tool and the cipher and the closing fsync
// has little left to do. The object is still fsynced once complete before it
// is renamed into place: the guarantee is the same, it just costs less time.
import { randomBytes } from 'node:crypto';
import { createReadStream, type Dirent } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, Writable } from 'node:stream';
import { invalidArgument, notFound } from '../../errors.js';
import { checkKey, type ObjectStorage, type PutOptions } from './storage.js';

const PARTIAL = '.partial-';

/** Bytes written between background flushes to disk. */
const SYNC_EVERY = 32 * 1024 * 1024;

/**
 * A file as a Writable: writev of whatever has queued up, an fdatasync in the
 * background every `syncEvery` bytes, and fsync before it finishes.
 */
export class FileSink extends Writable {
  private unsynced = 0;
  private syncing?: Promise<void>;
  private syncError?: Error;

  constructor(
    private readonly fh: FileHandle,
    private readonly opts: { syncEvery?: number; written?: (chunk: Buffer) => void } = {},
  ) {
    super({ highWaterMark: 2 * 1024 * 1024 });
  }

  private async writeAll(chunks: Buffer[]): Promise<void> {
    if (this.syncError) throw this.syncError;
    let total = 0;
    for (const c of chunks) total += c.length;
    let done = 0;
    while (done < total) {
      // Short writes are rare on files, but possible: go on from where the kernel stopped.
      const rest = done === 0 ? chunks : remainder(chunks, done);
      const { bytesWritten } = rest.length === 1 ? await this.fh.write(rest[0]) : await this.fh.writev(rest);
      if (bytesWritten <= 0) throw new Error('the file system accepted no bytes');
      done += bytesWritten;
    }
    if (this.opts.written) for (const c of chunks) this.opts.written(c);
    this.unsynced += total;
    if (this.unsynced >= (this.opts.syncEvery ?? SYNC_EVERY) && !this.syncing) {
      this.unsynced = 0;
      this.syncing = this.fh.datasync().then(
        () => (this.syncing = undefined),
        (err: Error) => {
          this.syncError = err;
          this.syncing = undefined;
        },
      );
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.writeAll([chunk]).then(() => cb(), cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    this.writeAll(chunks.map((c) => c.chunk)).then(() => cb(), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    (async () => {
      await this.syncing;
      if (this.syncError) throw this.syncError;
      await this.fh.sync();
    })().then(() => cb(), cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // Let a background flush settle before the descriptor goes.
    Promise.resolve(this.syncing)
      .then(() => this.fh.close())
      .then(
        () => cb(err),
        (e: Error) => cb(err ?? e),
      );
  }
}

function remainder(chunks: Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  for (const c of chunks) {
    if (skip >= c.length) {
      skip -= c.length;
      continue;
    }
    out.push(skip > 0 ? c.subarray(skip) : c);
    skip = 0;
  }
  return out;
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } catch {
    /* not every filesystem lets a directory be fsynced */
  } finally {
    await fh.close();
  }
}

export class FilesystemStorage implements ObjectStorage {
  readonly kind = 'filesystem' as const;
  readonly root: string;

  constructor(root: string) {
    if (!isAbsolute(root)) throw invalidArgument('storage.path', 'must be an absolute path');
    this.root = resolve(root);
  }

  private path(key: string): string {
    return join(this.root, checkKey(key));
  }

  uri(key: string): string {
    return `file://${this.path(key)}`;
  }

  keyOf(location: string): string {
    const prefix = `file://${this.root}${sep}`;
    if (!location.startsWith(prefix)) throw invalidArgument('location', `${location} is not in the backup directory ${this.root}`);
    return checkKey(location.slice(prefix.length));
  }

  async put(key: string, body: Readable, signal?: AbortSignal, opts: PutOptions = {}): Promise<number> {
    const target = this.path(key);
    await mkdir(dirname(target), { recursive: true, mode: 0o700 });
    const tmp = join(dirname(target), `.${key.split('/').pop()}${PARTIAL}${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      // FileSink fsyncs before it finishes, and closes the file either way.
      await pipeline(body, new FileSink(await open(tmp, 'wx', 0o600), { written: opts.written }), { signal });
      await rename(tmp, target);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await fsyncPath(dirname(target));
    return (await stat(target)).size;
  }

  async putBytes(key: string, data: Buffer): Promise<void> {
    await this.put(key, Readable.from([data]));
  }

  async get(key: string, signal?: AbortSignal): Promise<Readable> {
    const path = this.path(key);
    // Open first, so a missing object is NOT_FOUND here rather than an error event later.
    const fh = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'ENOENT' ? notFound(`backup object ${key} not found in ${this.root}`) : err;
    });
    return createReadStream('', { fd: fh, signal, highWaterMark: 256 * 1024 });
  }

  async getBytes(key: string): Promise<Buffer> {
    return readFile(this.path(key)).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'ENOENT' ? notFound(`backup object ${key} not found in ${this.root}`) : err;
    });
  }

  async list(prefix: string): Promise<string[]> {
    const base = this.path(prefix);
    const out: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries: Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const e of entries) {
        const p = join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (!e.name.includes(PARTIAL)) out.push(relative(this.root, p).split(sep).join('/'));
      }
    };
    await walk(base);
    return out.sort();
  }

  /** Everything under the prefix, temporaries too (what a killed writer leaves). */
  async listAll(prefix: string): Promise<string[]> {
    const base = this.path(prefix);
    try {
      return (await readdir(base, { recursive: true })).map(String).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  async deletePrefix(prefix: string): Promise<void> {
    await rm(this.path(prefix), { recursive: true, force: true });
  }

  close(): void {}
}
