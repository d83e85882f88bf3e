// The `filesystem` backend: a directory (local disk or a mounted share). An
// object is written to a hidden temporary file in its final directory,
// fsynced, then renamed: it appears complete or not at all. A crash leaves only
// the temporary, which deletePrefix removes with the rest of the backup.
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { invalidArgument, notFound } from '../../errors.js';
import { checkKey, type ObjectStorage } from './storage.js';

const PARTIAL = '.partial-';

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

  async put(key: string, body: Readable, signal?: AbortSignal): Promise<number> {
    const target = this.path(key);
    await mkdir(dirname(target), { recursive: true, mode: 0o700 });
    const tmp = join(dirname(target), `.${key.split('/').pop()}${PARTIAL}${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await pipeline(body, createWriteStream(tmp, { flags: 'wx', mode: 0o600 }), { signal });
      await fsyncPath(tmp);
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
      let entries;
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
