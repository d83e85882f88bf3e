import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Journal } from '../../agent/journal.js';
import { OperationState } from '../../proto/gen/steward/v1/common.js';
import { tempDir } from '../fixtures/controller.js';

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
    j.update({ operationId: 'op-b', state: OperationState.SUCCEEDED, progress: 100, message: 'done', result: { noop: { echo: 'x' } }, error: undefined });
    j.close(); // as if the process died here

    const again = new Journal(path);
    expect(again.interrupted().map((o) => o.id)).toEqual(['op-a']);
    expect(again.get('op-b')?.result?.noop?.echo).toBe('x');
    const pending = again.pendingAfter(0);
    expect(pending.map((m) => m.update?.operationId)).toEqual(['op-a', 'op-b', 'op-b']);
    expect(pending.map((m) => m.seq)).toEqual([...pending.map((m) => m.seq)].sort((a, b) => a - b));
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
    j.update({ operationId: 'r', state: OperationState.SUCCEEDED, progress: 100, message: 'done', result: { root: { enabled: true, user: 'root', password: 'S3cretS3cret' } }, error: undefined });
    expect(j.get('r')?.result?.root?.password).toBe('');
    // It still travels once, in the outbox, until the controller acknowledges it.
    expect(j.pendingAfter(0).at(-1)?.update?.result?.root?.password).toBe('S3cretS3cret');
    j.close();
  });
});
