// Config files the agent renders for a datastore. Writes are atomic (a
// temporary file in the same directory, fsync, rename): a crash mid-write leaves
// the old file or the new one, never a torn file a server would refuse to read.
import { randomBytes } from 'node:crypto';
import { open, rename, unlink, chown, chmod } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** `true` renders a bare key (e.g. `skip-name-resolve`); `false`/`undefined` omits the key. */
export type IniValue = string | number | boolean | undefined;
export type IniSections = Record<string, Record<string, IniValue>>;

function checkLine(text: string, what: string): void {
  // A newline would let a value start a new key or section.
  if (/[\r\n\0]/.test(text)) throw new Error(`config ${what} contains a line break or NUL: ${JSON.stringify(text)}`);
}

/** Renders `[section]` blocks of `key = value` lines in insertion order. */
export function renderIni(sections: IniSections, header?: string): string {
  const out: string[] = [];
  if (header) for (const line of header.split('\n')) out.push(`# ${line}`.trimEnd());
  for (const [section, entries] of Object.entries(sections)) {
    checkLine(section, 'section');
    if (out.length) out.push('');
    out.push(`[${section}]`);
    for (const [key, value] of Object.entries(entries)) {
      checkLine(key, 'key');
      if (value === undefined || value === false) continue;
      if (value === true) {
        out.push(key);
        continue;
      }
      const text = String(value);
      checkLine(text, `value of ${key}`);
      out.push(`${key} = ${text}`);
    }
  }
  return `${out.join('\n')}\n`;
}

export interface WriteOptions {
  mode: number;
  /** Owner to give the file (needs root); both or neither. */
  uid?: number;
  gid?: number;
}

export async function writeFileAtomic(path: string, content: string | Buffer, opts: WriteOptions): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const fh = await open(tmp, 'wx', opts.mode);
    try {
      await fh.writeFile(content);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await chmod(tmp, opts.mode); // the umask may have narrowed the mode given to open()
    if (opts.uid !== undefined && opts.gid !== undefined) await chown(tmp, opts.uid, opts.gid);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  // Persist the rename itself; not every filesystem lets a directory be fsynced.
  try {
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    /* best effort */
  }
}
