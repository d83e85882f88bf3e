// A state change hooked to an operation (instance task, backup, group...) that
// throws on an agent's report must not refuse the report forever: the agent
// replays an unacknowledged report after every reconnect, so one bad hook
// would lose the agent. The operation ends FAILED with the reason instead;
// a failure of the store itself is still refused (the agent replays it later).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentRegistry } from '../../controller/agent-registry.js';
import type { DatastoreCatalog } from '../../controller/catalog.js';
import { CommandCodec } from '../../controller/command-codec.js';
import { Notifier } from '../../controller/notifications/notifier.js';
import { OperationService } from '../../controller/operations.js';
import { SecretBox } from '../../controller/secret-box.js';
import { openSqliteStore } from '../../controller/store/open.js';
import { mysqlIdentity } from '../../managers/mysql/identity.js';
import { createLogger } from '../../managers/sdk/logger.js';
import { DONE, payload } from '../../managers/sdk/operations/payload.js';
import { OperationState, updates } from '../../managers/sdk/operations/state.js';
import { instanceRow } from '../fixtures/store-rows.js';

async function service() {
  const store = await openSqliteStore(':memory:');
  await store.insertInto('instances').values(instanceRow()).execute();
  const agents = new AgentRegistry();
  agents.attach('inst-1', { send: () => undefined, close: () => undefined });
  const catalog = { get: () => mysqlIdentity, require: () => mysqlIdentity } as unknown as DatastoreCatalog;
  const notifier = new Notifier({ publisherId: 'steward.test', payload: { region: 'r', availabilityZone: null, serviceIds: {} } });
  const box = SecretBox.loadOrCreate(join(mkdtempSync(join(tmpdir(), 'steward-hooks-')), 'secrets.key'));
  const ops = new OperationService(store, agents, catalog, createLogger('test', { level: 'silent' }), notifier, new CommandCodec(box));
  return { store, ops };
}

describe('operation hooks', () => {
  it('a hook that throws on a report ends the operation FAILED with the reason; the report is not refused', async () => {
    const { ops } = await service();
    ops.onChange(async (_trx, op, moment) => {
      if (moment === 'finished' && op.state === OperationState.SUCCEEDED) throw new Error('cannot record this');
    });
    const op = await ops.start('inst-1', payload('noop', { echo: 'x' }));
    await expect(ops.applyUpdate('inst-1', updates.succeeded(op.id, DONE))).resolves.toBeUndefined();
    const done = await ops.get(op.id);
    expect(done.state).toBe(OperationState.FAILED);
    expect(done.error_code).toBe('INTERNAL');
    expect(done.error_message).toContain("the controller could not apply the agent's report: cannot record this");
    // A replay of the same report changes nothing: the first outcome won.
    await ops.applyUpdate('inst-1', updates.succeeded(op.id, DONE));
    expect((await ops.get(op.id)).state).toBe(OperationState.FAILED);
  });

  it('a failure of the store is still refused, so that the agent replays the report later', async () => {
    const { store, ops } = await service();
    const op = await ops.start('inst-1', payload('noop', { echo: 'x' }));
    await store.destroy();
    await expect(ops.applyUpdate('inst-1', updates.succeeded(op.id, DONE))).rejects.toThrow();
  });
});
