import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Journal } from '../../agent/journal.js';
import { OperationState } from '../../proto/gen/steward/v1/common.js';
import { tempDir } from '../fixtures/controller.js';
import { answer, resultOf } from '../../managers/sdk/operations/payload.js';
import { updates } from '../../managers/sdk/operations/state.js';

describe('agent journal', () => {
  it('records an operation once: a repeated id is refused', () => {
    const j = new Journal(join(tempDir('journal-'), 'j.db'));
    expect(j.begin('op-1', 'create_users')).toBe(true);
    expect(j.begin('op-1', 'create_users')).toBe(false);
    expect(j.get('op-1')?.state).toBe(OperationState.RUNNING);
    j.close();
  });

  it('keeps state and the outbox across a reopen, and marks RUNNING work as interrupted', () => {
    const path = join(tempDir('journal-'), 'j.db');
    const j = new Journal(path);
    j.begin('op-a', 'prepare');
    j.begin('op-b', 'noop');
    j.update(updates.succeeded('op-b', answer('noop', { echo: 'x' })));
    j.close(); // as if the process died here

    const again = new Journal(path);
    expect(again.interrupted().map((o) => o.id)).toEqual(['op-a']);
    expect(resultOf(again.get('op-b')?.result, 'noop')?.echo).toBe('x');
    const pending = again.pendingAfter(0);
    expect(pending.map((m) => (m.body?.$case === 'update' ? m.body.value.operationId : ''))).toEqual(['op-a', 'op-b', 'op-b']);
    expect(pending.map((m) => m.seq)).toEqual([...pending.map((m) => m.seq)].sort((a, b) => a - b));
    again.close();
  });

  it('keeps a read answer queued without a disk flush, and the acknowledgement of earlier ones, through kill -9', async () => {
    const path = join(tempDir('journal-'), 'j.db');
    const first = new Journal(path);
    first.begin('earlier', 'create_users');
    const acked = first.pendingAfter(0)[0]!.seq;
    first.close();
    // A separate process queues a read's answer, acknowledges the earlier message and dies without closing.
    const script = [
      `import { Journal } from ${JSON.stringify(join(import.meta.dirname, '../../agent/journal.ts'))};`,
      `import { updates } from ${JSON.stringify(join(import.meta.dirname, '../../managers/sdk/operations/state.ts'))};`,
      `import { answer } from ${JSON.stringify(join(import.meta.dirname, '../../managers/sdk/operations/payload.ts'))};`,
      `const j = new Journal(${JSON.stringify(path)});`,
      `j.appendReadAnswer(updates.succeeded('read-1', answer('noop', { echo: 'r' })));`,
      `j.acknowledge(${acked});`,
      `process.kill(process.pid, 'SIGKILL');`,
    ].join('\n');
    const { spawnSync } = await import('node:child_process');
    const died = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(died.signal, died.stderr).toBe('SIGKILL');
    const again = new Journal(path);
    const pending = again.pendingAfter(0);
    expect(pending.map((m) => (m.body?.$case === 'update' ? m.body.value.operationId : ''))).toEqual(['read-1']);
    // Back to flushing: the next durable write is on disk with the relaxed one before it.
    expect(again.begin('later', 'create_users')).toBe(true);
    again.close();
  });

  it('drops acknowledged messages and never reuses a sequence number', () => {
    const j = new Journal(join(tempDir('journal-'), 'j.db'));
    j.begin('a', 'noop');
    j.begin('b', 'noop');
    const [first, second] = j.pendingAfter(0);
    j.acknowledge(second.seq);
    expect(j.pendingAfter(0)).toHaveLength(0);
    j.begin('c', 'noop');
    expect(j.pendingAfter(0)[0].seq).toBeGreaterThan(second.seq);
    expect(first.seq).toBeLessThan(second.seq);
    j.close();
  });

  it('never keeps a generated root password in the operations table', () => {
    const j = new Journal(join(tempDir('journal-'), 'j.db'));
    j.begin('r', 'enable_root');
    j.update(updates.succeeded('r', answer('root', { enabled: true, user: 'root', password: 'S3cretS3cret' })));
    expect(resultOf(j.get('r')?.result, 'root')?.password).toBe('');
    // It still travels once, in the outbox, until the controller acknowledges it.
    const last = j.pendingAfter(0).at(-1)?.body;
    expect(last?.$case === 'update' && resultOf(last.value.result, 'root')?.password).toBe('S3cretS3cret');
    j.close();
  });
});
