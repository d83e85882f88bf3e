// The scoped reads every service uses: a tenant sees its own live rows of
// instances, backups and clusters and nothing else; another tenant's row and a
// deleted one are NOT_FOUND exactly like a missing id; an admin sees all.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_TENANTS, canSee, findVisible, tenantScope, visibleRows, type TenantTable } from '../../controller/tenancy.js';
import { openSqliteStore, type Store } from '../../controller/store/open.js';
import type { StewardError } from '../../managers/sdk/errors.js';
import { backupRow, clusterRow, instanceRow } from '../fixtures/store-rows.js';

const now = new Date().toISOString();

describe('tenancy', () => {
  let store: Store;
  beforeAll(async () => {
    store = await openSqliteStore(':memory:');
    for (const [id, tenant, deleted] of [
      ['a1', 'acme', null],
      ['a2', 'acme', now],
      ['b1', 'beta', null],
    ] as const) {
      const owned = { id, tenant_id: tenant, deleted_at: deleted };
      await store.insertInto('instances').values(instanceRow(owned)).execute();
      await store.insertInto('clusters').values(clusterRow(owned)).execute();
      await store
        .insertInto('backups')
        .values(backupRow(id, null, owned))
        .execute();
    }
  });
  afterAll(async () => store.destroy());

  const tables: TenantTable[] = ['instances', 'backups', 'clusters'];

  it.each(tables)('%s: a tenant lists only its own live rows; an admin lists every live row', async (table) => {
    expect((await visibleRows(store, table, tenantScope('acme')).execute()).map((r) => r.id)).toEqual(['a1']);
    expect((await visibleRows(store, table, tenantScope('beta')).execute()).map((r) => r.id)).toEqual(['b1']);
    expect(await visibleRows(store, table, tenantScope("acme' OR '1'='1")).execute()).toEqual([]);
    expect((await visibleRows(store, table, ALL_TENANTS).orderBy('id').execute()).map((r) => r.id)).toEqual(['a1', 'b1']);
  });

  it.each(tables)("%s: another tenant's row and a deleted one are NOT_FOUND, worded like a missing one", async (table) => {
    expect((await findVisible(store, table, 'a1', tenantScope('acme'), 'thing')).id).toBe('a1');
    expect((await findVisible(store, table, 'b1', ALL_TENANTS, 'thing')).tenant_id).toBe('beta');
    const refusals = await Promise.all(
      [
        ['b1', 'acme'],
        ['a2', 'acme'],
        ['zz', 'acme'],
      ].map(([id, t]) =>
        findVisible(store, table, id, tenantScope(t), 'thing').then(
          () => undefined,
          (e: StewardError) => e,
        ),
      ),
    );
    expect(refusals.map((e) => [e?.code, e?.message])).toEqual([
      ['NOT_FOUND', 'thing b1 not found'],
      ['NOT_FOUND', 'thing a2 not found'],
      ['NOT_FOUND', 'thing zz not found'],
    ]);
  });

  it('says who may see a row', () => {
    expect(canSee(ALL_TENANTS, 'acme')).toBe(true);
    expect(canSee(tenantScope('acme'), 'acme')).toBe(true);
    expect(canSee(tenantScope('acme'), 'beta')).toBe(false);
  });
});
