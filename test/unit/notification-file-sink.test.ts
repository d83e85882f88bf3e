// The JSON-lines file sink on a real file system: one line per event, a file
// moved away (log rotation) replaced by a new one at the path, and a failed
// write reported for every event of the batch.
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileSink } from '../../controller/notifications/sinks/file.js';
import type { OutboxEvent } from '../../controller/notifications/types.js';

const event = (seq: number): OutboxEvent => ({
  seq,
  orderKey: 'instance:a',
  resourceKind: 'instance',
  resourceId: 'a',
  tenantId: 't',
  notification: {
    message_id: `m${seq}`,
    publisher_id: 'p',
    event_type: 'instance.reboot.end',
    priority: 'INFO',
    payload: { n: seq },
    timestamp: '2024-05-01 10:00:00.000000',
  },
});
const lines = (path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l).message_id as string);

describe('JSON-lines file sink', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'steward-filesink-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('appends one message per line, creating the directory', async () => {
    const sink = new FileSink(join(dir, 'sub', 'events.jsonl'));
    await sink.open();
    expect(await sink.deliver([event(1), event(2)])).toEqual([undefined, undefined]);
    expect(await sink.deliver([event(3)])).toEqual([undefined]);
    expect(lines(join(dir, 'sub', 'events.jsonl'))).toEqual(['m1', 'm2', 'm3']);
    expect(JSON.parse(readFileSync(join(dir, 'sub', 'events.jsonl'), 'utf8').split('\n')[0])).toEqual(event(1).notification);
    await sink.close();
  });

  it('starts a new file when the old one was moved away', async () => {
    const path = join(dir, 'events.jsonl');
    const sink = new FileSink(path);
    await sink.deliver([event(1)]);
    renameSync(path, `${path}.1`);
    await sink.deliver([event(2)]);
    expect(lines(`${path}.1`)).toEqual(['m1']);
    expect(lines(path)).toEqual(['m2']);
    await sink.close();
  });

  it('reports a failed write for every event of the batch', async () => {
    const path = join(dir, 'events.jsonl');
    mkdirSync(path); // a directory where the file should be
    const sink = new FileSink(path);
    const outcomes = await sink.deliver([event(1), event(2)]);
    expect(outcomes.every((o) => o instanceof Error)).toBe(true);
    rmSync(path, { recursive: true });
    expect(await sink.deliver([event(1), event(2)])).toEqual([undefined, undefined]);
    await sink.close();
  });
});
