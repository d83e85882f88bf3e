// What every route of the facade shares: the services, who is calling, where
// links point, and the one way a route is declared (authenticated, under
// `/v1.0/{tenant}`, answering JSON or Trove's fault through the error handler).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { fromWireError } from '../../managers/sdk/errors.js';
import { OperationState, type Operation } from '../../proto/gen/steward/v1/common.js';
import type { Caller } from '../tokens.js';
import type { TroveAuth } from './auth.js';
import type { Json } from './body.js';
import type { TroveConfig } from './config.js';
import { notImplemented } from './errors.js';
import type { Services } from './services.js';
import type { Place } from './views.js';

export interface Call {
  req: FastifyRequest;
  caller: Caller;
  place: Place;
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: unknown;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export class Rest {
  constructor(
    readonly app: FastifyInstance,
    readonly s: Services,
    readonly auth: TroveAuth,
    readonly config: TroveConfig,
    /** The public URL clients reach this server by (scheme://host:port). */
    readonly url: () => string,
  ) {}

  /** Declares `method /v1.0/{tenant}<path>`, answering `status` with what `fn` returns (no body when undefined). */
  route(method: Method, path: string, status: number, fn: (c: Call) => Promise<Json | undefined>): void {
    this.app.route({
      method,
      url: `/v1.0/:tenant${path}`,
      handler: async (req, reply) => {
        const params = req.params as Record<string, string>;
        const caller = await this.auth.caller(req.headers, params.tenant);
        const root = this.url();
        const place: Place = { root, base: `${root}/v1.0/${caller.tenantId}`, tenant: caller.tenantId };
        const out = await fn({ req, caller, place, params, query: (req.query ?? {}) as Record<string, unknown>, body: req.body });
        reply.code(status);
        return out === undefined ? reply.send() : reply.send(out);
      },
    });
  }

  /** A Trove endpoint Steward has no service for (yet): 501 notImplemented, after authentication. */
  missing(method: Method, path: string, what: string): void {
    this.route(method, path, 501, async () => {
      throw notImplemented(what);
    });
  }

  /**
   * Waits (up to `waitMs`) for a datastore change to finish, so that a refusal
   * (a user that exists, a database that does not) reaches the client as
   * Trove's error; still running then, the client gets its 202 and it goes on.
   */
  async settle(op: Operation | undefined, caller: Caller): Promise<void> {
    if (!op || this.config.waitMs === 0) return;
    const done = await this.s.call(this.s.h.operations.wait, { id: op.id, timeoutMs: this.config.waitMs }, caller);
    if (done.state === OperationState.FAILED || done.state === OperationState.CANCELLED) {
      throw fromWireError(done.error ?? { code: 2, message: done.message || 'the operation failed' });
    }
  }
}
