// The executor with a scripted in-memory manager: the contract's guarantees
// (run once per id, one mutation at a time, cancellation reaches the work).
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Executor } from '../../agent/executor.js';
import { Journal } from '../../agent/journal.js';
import { createLogger } from '../../managers/sdk/logger.js';
import type { AgentManager, ManagerIdentity, OperationScope } from '../../managers/sdk/contract.js';
import { codeOfNumber } from '../../managers/sdk/errors.js';
import { payload, type CommandPayload } from '../../managers/sdk/operations/payload.js';
import type { Command } from '../../proto/gen/steward/v1/agent.js';
import { DatastoreStatus, OperationState } from '../../proto/gen/steward/v1/common.js';
import { validator } from '../fixtures/noop-manager/orchestration.js';
import { tempDir, waitFor } from '../fixtures/controller.js';
import { Terms } from '../../agent/fencing.js';

const log = createLogger('test', { level: 'silent' });

function setup() {
  const events: string[] = [];
  let active = 0;
  let maxActive = 0;
  const slow = (name: string, ms: number) => async (op: OperationScope) => {
    events.push(`start ${name}`);
    active++;
    maxActive = Math.max(maxActive, active);
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, ms);
        op.signal.addEventListener('abort', () => (clearTimeout(t), reject(op.signal.reason)), { once: true });
      });
    } finally {
      active--;
      events.push(`end ${name}`);
    }
  };
  const manager: AgentManager = {
    prepare: (_r, op) => slow('prepare', 150)(op),
    restart: slow('restart', 150),
    start: slow('start', 10),
    stop: slow('stop', 10),
    destroy: slow('destroy', 10),
    probe: async () => ({ status: DatastoreStatus.HEALTHY, version: '1', facts: {} }),
    isPrepared: async () => true,
    close: async () => undefined,
    users: {
      create: async (users) => void events.push(`create ${users.map((u) => u.name).join(',')}`),
      list: async () => ({ users: [], nextMarker: '' }),
      get: async (r) => ({ name: r.name, host: r.host, password: '', access: [], permissions: '' }),
      delete: async () => undefined,
      changePassword: async () => undefined,
      grant: async () => undefined,
      revoke: async () => undefined,
      listAccess: async () => [],
    },
  };
  const journal = new Journal(join(tempDir('exec-'), 'j.db'));
  const datastore: ManagerIdentity = { name: 'exec-test', displayName: 'Executor test', capabilities: ['users'], validator, defaultPort: 1 };
  const ex = new Executor({ journal, terms: new Terms(journal), manager, datastore, log, onUpdate: () => undefined });
  const cmd = (id: string, p: CommandPayload, deadlineMs = 0): Command => ({
    operationId: id,
    deadlineUnixMs: deadlineMs ? Date.now() + deadlineMs : 0,
    payload: p,
  });
  const finished = (id: string) =>
    waitFor(
      `operation ${id}`,
      async () => {
        const op = journal.get(id);
        return op && op.state !== OperationState.RUNNING && op;
      },
      5_000,
      10,
    );
  /** Reads are not journaled: their answer is only in the outbox. */
  const answered = (id: string) =>
    waitFor(
      `answer to ${id}`,
      async () => {
        const answers = journal.pendingAfter(0).flatMap((m) => (m.body?.$case === 'update' ? [m.body.value] : []));
        return answers.find((u) => u.operationId === id && u.state !== OperationState.RUNNING);
      },
      5_000,
      10,
    );
  return { ex, journal, events, cmd, finished, answered, maxActive: () => maxActive };
}

describe('executor', () => {
  it('runs a repeated operation id once', async () => {
    const s = setup();
    const c = s.cmd('op-1', payload('createUsers', { users: [{ name: 'alice', host: '%', password: 'pw', access: [], permissions: '' }] }));
    s.ex.submit(c);
    s.ex.submit(c);
    await s.finished('op-1');
    s.ex.submit(c);
    await new Promise((r) => setTimeout(r, 50));
    expect(s.events.filter((e) => e.startsWith('create'))).toEqual(['create alice']);
    expect(s.journal.get('op-1')?.state).toBe(OperationState.SUCCEEDED);
  });

  it('runs mutating operations one at a time and reads alongside them', async () => {
    const s = setup();
    s.ex.submit(
      s.cmd(
        'p',
        payload('prepare', {
          memoryMb: 256,
          databases: [],
          users: [],
          bindAddress: '',
          port: 0,
          cluster: undefined,
          restore: undefined,
          replicaOf: undefined,
          configuration: {},
        }),
      ),
    );
    s.ex.submit(s.cmd('r', payload('restart', {})));
    s.ex.submit(s.cmd('read', payload('listUsers', { page: { limit: 10, marker: '' } })));
    expect((await s.answered('read')).state).toBe(OperationState.SUCCEEDED);
    expect(s.journal.get('read')).toBeUndefined(); // a read leaves no run-once record
    expect(s.events).not.toContain('end prepare'); // the read did not wait for the mutation
    await s.finished('r');
    expect(s.maxActive()).toBe(1);
    expect(s.events).toEqual(['start prepare', 'end prepare', 'start restart', 'end restart']);
  });

  it('cancels through the AbortSignal and records CANCELLED', async () => {
    const s = setup();
    s.ex.submit(s.cmd('long', payload('restart', {})));
    await new Promise((r) => setTimeout(r, 20));
    s.ex.cancel('long');
    expect((await s.finished('long')).state).toBe(OperationState.CANCELLED);
  });

  it('fails with DEADLINE_EXCEEDED when the deadline passes', async () => {
    const s = setup();
    s.ex.submit(s.cmd('late', payload('restart', {}), 30));
    const op = await s.finished('late');
    expect(op.state).toBe(OperationState.FAILED);
    expect(codeOfNumber(op.error!.code)).toBe('DEADLINE_EXCEEDED');
  });

  it('refuses a capability the manager does not declare and bad input, without calling the manager', async () => {
    const s = setup();
    s.ex.submit(s.cmd('db', payload('createDatabases', { databases: [{ name: 'x', characterSet: '', collation: '', ctype: '', replication: {} }] })));
    expect(codeOfNumber((await s.finished('db')).error!.code)).toBe('FAILED_PRECONDITION');
    s.ex.submit(s.cmd('bad', payload('createUsers', { users: [{ name: "x'; DROP", host: '%', password: 'p', access: [], permissions: '' }] })));
    expect(codeOfNumber((await s.finished('bad')).error!.code)).toBe('INVALID_ARGUMENT');
    expect(s.events.filter((e) => e.startsWith('create'))).toEqual([]);
  });

  it('reports an operation left RUNNING by a dead process as FAILED on recovery', async () => {
    const s = setup();
    s.journal.begin('orphan', 'prepare');
    s.ex.recover();
    const op = s.journal.get('orphan')!;
    expect(op.state).toBe(OperationState.FAILED);
    expect(op.message).toMatch(/agent restarted/);
    expect(codeOfNumber(op.error!.code)).toBe('ABORTED');
  });
});
