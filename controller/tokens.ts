// Secrets the controller hands out and later checks: API bearer tokens and
// one-time enrollment tokens. Only SHA-256 hashes are stored; the token itself
// is shown once and registered for log redaction.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Metadata } from '@grpc/grpc-js';
import { registerSecret } from '../managers/sdk/redact.js';
import { StewardError, notFound } from '../managers/sdk/errors.js';
import { checkLabel, checkTenantId } from './names.js';
import { ALL_TENANTS, tenantScope, type CallerScope } from './tenancy.js';
import type { Store } from './store/open.js';
import type { ApiTokensTable } from './store/schema.js';
import { nowIso } from './clock.js';

export function newToken(prefix: string): string {
  const token = `${prefix}_${randomBytes(32).toString('base64url')}`;
  registerSecret(token);
  return token;
}

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

/** Who is calling the public API: their tenant (what they create belongs to it) and what they may see. */
export interface Caller {
  tenantId: string;
  admin: boolean;
  scope: CallerScope;
}

export class ApiTokens {
  constructor(private readonly store: Store) {}

  async create(tenantId: string, name: string, admin: boolean): Promise<{ id: string; token: string }> {
    checkTenantId(tenantId, 'tenant_id');
    checkLabel(name, 'name');
    const token = newToken('stw');
    const id = randomUUID();
    await this.store
      .insertInto('api_tokens')
      .values({ id, token_hash: hashToken(token), tenant_id: tenantId, name, admin: admin ? 1 : 0, created_at: nowIso(), revoked_at: null })
      .execute();
    return { id, token };
  }

  /**
   * The first admin token, written 0600 to `file` on first start (never logged).
   * Returns the token so a demo or test on the same machine can use it.
   */
  async bootstrapAdmin(file: string): Promise<string> {
    if (existsSync(file)) {
      const token = readFileSync(file, 'utf8').trim();
      registerSecret(token);
      return token;
    }
    const { token } = await this.create('admin', 'bootstrap admin', true);
    writeFileSync(file, `${token}\n`, { mode: 0o600 });
    return token;
  }

  async authenticate(metadata: Metadata): Promise<Caller> {
    const header = metadata.get('authorization')[0];
    if (typeof header !== 'string' || !header.startsWith('Bearer ')) {
      throw new StewardError('UNAUTHENTICATED', 'missing bearer token (metadata "authorization: Bearer <token>")');
    }
    const token = header.slice('Bearer '.length).trim();
    const row = await this.store.selectFrom('api_tokens').selectAll().where('token_hash', '=', hashToken(token)).executeTakeFirst();
    if (!row || row.revoked_at) throw new StewardError('UNAUTHENTICATED', 'invalid or revoked token');
    return { tenantId: row.tenant_id, admin: row.admin === 1, scope: row.admin === 1 ? ALL_TENANTS : tenantScope(row.tenant_id) };
  }

  list(): Promise<ApiTokensTable[]> {
    return this.store.selectFrom('api_tokens').selectAll().orderBy('created_at').execute();
  }

  async revoke(id: string): Promise<ApiTokensTable> {
    await this.store.updateTable('api_tokens').set({ revoked_at: nowIso() }).where('id', '=', id).where('revoked_at', 'is', null).execute();
    const row = await this.store.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound(`token ${id} not found`);
    return row;
  }
}

export class EnrollmentTokens {
  constructor(
    private readonly store: Store,
    private readonly ttlMs: number,
  ) {}

  async issue(instanceId: string): Promise<{ token: string; expiresAt: number }> {
    const token = newToken('enr');
    const expiresAt = Date.now() + this.ttlMs;
    await this.store
      .insertInto('enrollment_tokens')
      .values({ token_hash: hashToken(token), instance_id: instanceId, expires_at: expiresAt, used_at: null, created_at: nowIso() })
      .execute();
    return { token, expiresAt };
  }

  /** Spends a token bound to `instanceId`, or refuses (unknown, used, expired, another instance's). */
  async redeem(token: string, instanceId: string): Promise<string> {
    const hash = hashToken(token);
    // Guarded update: of two racing redemptions, exactly one changes the row.
    const res = await this.store
      .updateTable('enrollment_tokens')
      .set({ used_at: nowIso() })
      .where('token_hash', '=', hash)
      .where('used_at', 'is', null)
      .where('instance_id', '=', instanceId)
      .where('expires_at', '>', Date.now())
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) throw new StewardError('UNAUTHENTICATED', 'enrollment token is unknown, used, expired or not for this instance');
    const row = await this.store.selectFrom('enrollment_tokens').select('instance_id').where('token_hash', '=', hash).executeTakeFirstOrThrow();
    return row.instance_id;
  }
}
