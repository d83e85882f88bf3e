// Who is calling, for a Trove request: the `X-Auth-Token` header carries a
// Steward API token (no Keystone). The tenant in the path must be the token's
// own; an admin token may name any tenant and then acts inside that tenant
// (sees and creates its resources), as a Trove admin does in a project.
// A mismatch is refused as Trove's TenantBasedAuth refuses it (403).
// `GET /auth/v1.0` is the small v1-style auth endpoint the legacy `trove` CLI
// calls before anything else (troveclient/client.py _v1_auth).
import { Metadata } from '@grpc/grpc-js';
import { StewardError } from '../../managers/sdk/errors.js';
import { checkTenantId } from '../names.js';
import type { Security } from '../security.js';
import { tenantScope } from '../tenancy.js';
import type { Caller } from '../tokens.js';

export type Headers = Record<string, string | string[] | undefined>;

const header = (h: Headers, name: string): string | undefined => {
  const v = h[name];
  return typeof v === 'string' && v.trim() ? v.trim() : undefined;
};

export class TroveAuth {
  constructor(private readonly security: Security) {}

  /** The token's caller (UNAUTHENTICATED without a valid one). */
  async token(token: string | undefined): Promise<Caller> {
    if (this.security.insecure) return { tenantId: 'default', admin: true, scope: tenantScope('default') };
    if (!token) throw new StewardError('UNAUTHENTICATED', 'authentication required: send a Steward API token in the X-Auth-Token header');
    if (token.length > 512) throw new StewardError('UNAUTHENTICATED', 'invalid or revoked token');
    const md = new Metadata();
    md.set('authorization', `Bearer ${token}`);
    return this.security.apiTokens.authenticate(md);
  }

  /** The caller of a request on `/v1.0/{tenant}/...`, acting inside that tenant. */
  async caller(headers: Headers, tenant: string): Promise<Caller> {
    const who = await this.token(header(headers, 'x-auth-token'));
    if (!this.security.insecure && !who.admin && who.tenantId !== tenant) {
      throw new StewardError('PERMISSION_DENIED', `User with tenant id ${who.tenantId} cannot access this resource.`);
    }
    checkTenantId(tenant, 'tenant_id');
    return { tenantId: tenant, admin: who.admin, scope: tenantScope(tenant) };
  }

  /**
   * The v1 auth answer: the token (X-Auth-Key, or X-Auth-Token) checked, and
   * the management URL of the tenant asked for (X-Auth-Project-Id, default the
   * token's own; only an admin token may ask for another).
   */
  async v1(headers: Headers): Promise<{ token: string; tenant: string }> {
    const token = header(headers, 'x-auth-key') ?? header(headers, 'x-auth-token');
    const who = await this.token(token);
    const tenant = header(headers, 'x-auth-project-id') ?? who.tenantId;
    if (!this.security.insecure && !who.admin && tenant !== who.tenantId) {
      throw new StewardError('PERMISSION_DENIED', `User with tenant id ${who.tenantId} cannot access this resource.`);
    }
    checkTenantId(tenant, 'X-Auth-Project-Id');
    return { token: token ?? '', tenant };
  }
}
