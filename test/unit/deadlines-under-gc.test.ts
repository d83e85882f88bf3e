// Deadlines that hold while the garbage collector runs. On Node.js 20 a
// deadline built as AbortSignal.any([..., AbortSignal.timeout(ms)]) is lost
// once the collector takes the timeout signal: `sleep 30` then ran its full 30
// seconds under the suite's load. These tests force collections every few
// milliseconds while waiting, for the helpers every deadline goes through, the
// child-process runner and the agent's executor.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadline, scopedSignal } from '../../managers/sdk/signals.js';
import { run } from '../../managers/sdk/runner.js';
import { codeOfNumber } from '../../managers/sdk/errors.js';
import { createLogger } from '../../managers/sdk/logger.js';
import { payload } from '../../managers/sdk/operations/payload.js';
import { OperationState } from '../../managers/sdk/operations/state.js';
import type { AgentManager, ManagerIdentity } from '../../managers/sdk/contract.js';
import { Executor } from '../../agent/executor.js';
import { Journal } from '../../agent/journal.js';
import { validator } from '../fixtures/noop-manager/orchestration.js';
import { tempDir, waitFor } from '../fixtures/controller.js';
import { DatastoreStatus } from '../../proto/gen/steward/v1/common.js';
import { Terms } from '../../agent/fencing.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Collects garbage every `everyMs` until stopped: what a busy process does to weakly held signals. */
function collecting(everyMs = 10) {
  const t = setInterval(() => gc(), everyMs);
  return () => clearInterval(t);
}

/** Milliseconds until `signal` aborts (fails the test after `limitMs`). The signal itself is the only reference kept. */
function abortedWithin(signal: AbortSignal, limitMs: number): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error(`no abort within ${limitMs} ms`)), limitMs);
    signal.addEventListener('abort', () => (clearTimeout(guard), resolve(Date.now() - t0)), { once: true });
  });
}

describe('deadlines under forced garbage collection', () => {
  let stop: () => void;
  beforeAll(() => {
    stop = collecting();
  });
  afterAll(() => stop());

  it('a scoped deadline fires, with a TimeoutError, whatever references it', async () => {
    const ms = await abortedWithin(scopedSignal([new AbortController().signal], 200).signal, 5_000);
    expect(ms).toBeGreaterThanOrEqual(190);
  });

  it('a scoped signal follows any of its sources', async () => {
    const parent = new AbortController();
    const { signal } = scopedSignal([undefined, parent.signal], 60_000);
    setTimeout(() => parent.abort(new Error('cancelled upstream')), 150);
    await abortedWithin(signal, 5_000);
    expect((signal.reason as Error).message).toBe('cancelled upstream');
  });

  it('a lone deadline fires', async () => {
    const signal = deadline(200);
    await abortedWithin(signal, 5_000);
    expect((signal.reason as DOMException).name).toBe('TimeoutError');
  });

  it('the runner kills `sleep 30` when its 300 ms deadline passes', async () => {
    const t0 = Date.now();
    const err = await run('sleep', ['30'], { timeoutMs: 300, signal: new AbortController().signal }).catch((e) => e);
    expect(err.code).toBe('DEADLINE_EXCEEDED');
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('the executor ends an operation past its deadline FAILED with DEADLINE_EXCEEDED', async () => {
    const waitForAbort = (op: { signal: AbortSignal }) =>
      new Promise<void>((_, reject) => op.signal.addEventListener('abort', () => reject(op.signal.reason), { once: true }));
    const manager = {
      restart: waitForAbort,
      probe: async () => ({ status: DatastoreStatus.HEALTHY, version: '1', facts: {} }),
    } as unknown as AgentManager;
    const journal = new Journal(join(tempDir('gc-exec-'), 'j.db'));
    const datastore: ManagerIdentity = { name: 'gc', displayName: 'GC test', capabilities: [], validator, defaultPort: 1 };
    const ex = new Executor({
      journal,
      terms: new Terms(journal),
      manager,
      datastore,
      log: createLogger('test', { level: 'silent' }),
      onUpdate: () => undefined,
    });
    ex.submit({ operationId: 'late', deadlineUnixMs: Date.now() + 300, payload: payload('restart', {}) });
    const op = await waitFor(
      'the deadline',
      async () => {
        const o = journal.get('late');
        return o && o.state !== OperationState.RUNNING && o;
      },
      10_000,
      20,
    );
    expect(op.state).toBe(OperationState.FAILED);
    expect(codeOfNumber(op.error!.code)).toBe('DEADLINE_EXCEEDED');
    journal.close();
  });
});
