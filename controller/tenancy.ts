// Whose resources a caller sees, in one place. A service never takes a bare
// tenant id to filter by: it takes the caller's scope (every tenant for an
// admin token, one tenant otherwise) and reads tenant-owned rows through
// `visibleRows` / `findVisible`, so another tenant's row is never returned and
// looks exactly like a missing one (NOT_FOUND, existence not revealed).
import type { SelectQueryBuilder } from 'kysely';
import { notFound } from '../managers/sdk/errors.js';
import type { Store } from './store/open.js';
import type { DB } from './store/schema.js';

/** The resources a caller may see: all of them (admin), or one tenant's. */
export type CallerScope = { readonly all: true } | { readonly all: false; readonly tenantId: string };

export const ALL_TENANTS: CallerScope = { all: true };
export const tenantScope = (tenantId: string): CallerScope => ({ all: false, tenantId });

/** The tables whose rows belong to a tenant (`tenant_id`) and are deleted softly (`deleted_at`). */
export type TenantTable = 'instances' | 'backups' | 'clusters' | 'configurations';

/** Whether a row with this owner is visible in the scope. */
export const canSee = (scope: CallerScope, ownerTenantId: string): boolean => scope.all || scope.tenantId === ownerTenantId;

/** The scope's live (not deleted) rows of a tenant-owned table; add filters and order as needed. */
export function visibleRows<T extends TenantTable>(db: Store, table: T, scope: CallerScope): SelectQueryBuilder<DB, T, DB[T]> {
  // The three tables share these columns; Kysely cannot see that through the type parameter.
  const q = db
    .selectFrom(table as TenantTable)
    .selectAll()
    .where('deleted_at', 'is', null);
  return (scope.all ? q : q.where('tenant_id', '=', scope.tenantId)) as unknown as SelectQueryBuilder<DB, T, DB[T]>;
}

/** One live row the scope may see, or NOT_FOUND saying `what` (e.g. "instance") was not found. */
export async function findVisible<T extends TenantTable>(db: Store, table: T, id: string, scope: CallerScope, what: string): Promise<DB[T]> {
  const row = await (visibleRows(db, table, scope) as unknown as SelectQueryBuilder<DB, TenantTable, DB[TenantTable]>).where('id', '=', id).executeTakeFirst();
  if (!row) throw notFound(`${what} ${id.slice(0, 64)} not found`);
  return row as DB[T];
}
