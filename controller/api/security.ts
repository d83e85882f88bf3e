// Enrollment (agents without a certificate yet) and API tokens (admin scope).
import type { EnrollmentServer } from '../../proto/gen/steward/v1/agent.js';
import type { TokensServer } from '../../proto/gen/steward/v1/api.js';
import { StewardError, invalidArgument } from '../../managers/sdk/errors.js';
import type { Logger } from '../../managers/sdk/logger.js';
import { unary } from '../grpc-status.js';
import type { Security } from '../security.js';
import type { ApiContext } from './context.js';

export function enrollmentApi(security: Security, log: Logger): EnrollmentServer {
  return {
    enroll: unary(log, 'Enrollment.Enroll', async (req) => {
      if (!req.token) throw invalidArgument('token', 'is required');
      if (!req.csrPem) throw invalidArgument('csr_pem', 'is required');
      if (req.csrPem.length > 16_384) throw invalidArgument('csr_pem', 'is too large');
      if (!req.instanceId) throw invalidArgument('instance_id', 'is required');
      return security.enroll(req.token, req.instanceId, req.csrPem);
    }),
  };
}

export function tokensApi(c: ApiContext, security: Security): TokensServer {
  const admin = async (metadata: Parameters<ApiContext['caller']>[0]) => {
    const caller = await c.caller(metadata);
    if (!caller.admin) throw new StewardError('PERMISSION_DENIED', 'managing tokens needs an admin token');
  };
  return {
    create: unary(c.log, 'Tokens.Create', async (req, call) => {
      await admin(call.metadata);
      return security.apiTokens.create(req.tenantId, req.name, req.admin);
    }),
    list: unary(c.log, 'Tokens.List', async (_req, call) => {
      await admin(call.metadata);
      const rows = await security.apiTokens.list();
      return {
        tokens: rows.map((r) => ({ id: r.id, tenantId: r.tenant_id, name: r.name, admin: r.admin === 1, createdAt: r.created_at, revoked: !!r.revoked_at })),
      };
    }),
    revoke: unary(c.log, 'Tokens.Revoke', async (req, call) => {
      await admin(call.metadata);
      const r = await security.apiTokens.revoke(req.id);
      return { id: r.id, tenantId: r.tenant_id, name: r.name, admin: r.admin === 1, createdAt: r.created_at, revoked: !!r.revoked_at };
    }),
  };
}
