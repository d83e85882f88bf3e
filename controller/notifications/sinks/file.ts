// The JSON-lines file sink: one notification per line (the oslo message as a
// JSON object), appended and fdatasync'd once per batch. A batch succeeds or
// fails whole; a retried batch may repeat lines that reached the disk before
// the failure, which is why consumers deduplicate on message_id. A file moved
// away (log rotation) is noticed at the next batch, which starts a new one.
import { mkdirSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { OutboxEvent } from '../types.js';
import type { Sink } from './sink.js';

export class FileSink implements Sink {
  readonly name = 'file';
  readonly maxPerKey = Number.POSITIVE_INFINITY;
  private handle?: FileHandle;
  private opening?: Promise<FileHandle>;

  constructor(readonly path: string) {}

  async deliver(events: OutboxEvent[]): Promise<Array<Error | undefined>> {
    const text = events.map((e) => `${JSON.stringify(e.notification)}\n`).join('');
    try {
      const h = await this.handleOrOpen();
      await h.appendFile(text, 'utf8');
      await h.datasync();
      return events.map(() => undefined);
    } catch (err) {
      // Reopen next time: the file may have been moved, or its disk replaced.
      await this.close();
      return events.map(() => err as Error);
    }
  }

  async close(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    await h?.close().catch(() => undefined);
  }

  async open(): Promise<void> {
    await this.handleOrOpen();
  }

  private async handleOrOpen(): Promise<FileHandle> {
    if (this.opening) return this.opening;
    if (this.handle && !(await this.rotated(this.handle))) return this.handle;
    if (this.opening) return this.opening; // started by another caller while we looked
    const old = this.handle;
    this.handle = undefined;
    this.opening = (async () => {
      await old?.close().catch(() => undefined);
      mkdirSync(dirname(this.path), { recursive: true });
      this.handle = await open(this.path, 'a', 0o640);
      return this.handle;
    })().finally(() => (this.opening = undefined));
    return this.opening;
  }

  /** The path no longer names the file we hold open (moved or deleted). */
  private async rotated(h: FileHandle): Promise<boolean> {
    const [held, named] = await Promise.all([h.stat(), stat(this.path).catch(() => undefined)]);
    return !named || named.ino !== held.ino || named.dev !== held.dev;
  }
}
