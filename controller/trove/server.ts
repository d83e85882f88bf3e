// The Trove v1.0 REST API (docs/trove.md): its own port next to gRPC, TLS
// with a server certificate from the controller's CA (plain HTTP only with
// --insecure-dev), every route mapped onto the gRPC API's own handlers
// (services.ts). Every answer that is not a success is Trove's fault body.
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { generateKeyPair, privateKeyToPem } from '../../managers/sdk/pki.js';
import type { Logger } from '../../managers/sdk/logger.js';
import { StewardError } from '../../managers/sdk/errors.js';
import type { Security } from '../security.js';
import { TroveAuth } from './auth.js';
import { registerBackups } from './backups.js';
import { registerClusters } from './clusters.js';
import type { TroveConfig } from './config.js';
import { Rest } from './context.js';
import { registerDatabases } from './databases.js';
import { Datastores } from './datastores.js';
import { asStewardError, faultBody, faultOfCode, faultOfStatus } from './errors.js';
import { Instances } from './instances.js';
import { registerRoot } from './root.js';
import { registerUsers } from './users.js';
import { Services, type ServiceDeps } from './services.js';
import { registerVersions } from './versions.js';

export interface TroveServer {
  /** scheme://host:port, as clients reach it. */
  url: string;
  close(): Promise<void>;
}

export interface TroveDeps extends ServiceDeps {
  security: Security;
  log: Logger;
}

const CERT_LIFETIME_MS = 365 * 24 * 3600_000;

async function tlsOptions(security: Security, host: string, extraNames: string[]) {
  const keys = await generateKeyPair();
  const names = [...new Set(['localhost', '127.0.0.1', '::1', host, ...extraNames])];
  const cert = await security.ca.issueServerCertificate(keys.publicKey, names, CERT_LIFETIME_MS, 'steward-controller');
  return { key: await privateKeyToPem(keys.privateKey), cert: cert.pem };
}

/** Fastify's own refusals (bad JSON, too large, wrong media type) as Trove's faults. */
function faultOfFramework(err: FastifyError): { status: number; message: string } | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, message: 'Request Entity Too Large: the body is larger than the limit' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 415 : 400, message: err.message };
    default:
      return err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? { status: err.statusCode, message: err.message } : undefined;
  }
}

export async function startTroveApi(config: TroveConfig, deps: TroveDeps): Promise<TroveServer> {
  const log = deps.log.child({ component: 'trove-api' });
  const host = config.listen.slice(0, config.listen.lastIndexOf(':'));
  const port = Number(config.listen.slice(config.listen.lastIndexOf(':') + 1));
  const https = deps.security.insecure ? null : await tlsOptions(deps.security, host, config.publicUrl ? [new URL(config.publicUrl).hostname] : []);
  const app: FastifyInstance = Fastify({
    ...(https ? { https } : {}),
    bodyLimit: config.bodyLimitBytes,
    logger: false,
    // Ids are short: a longer path segment is refused before routing (414, in Trove's format).
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1024 },
    // Errors the router raises itself (a bad URL, an overlong segment) in Trove's format too.
    frameworkErrors: (err: FastifyError, _req: unknown, reply: { code(n: number): { send(b: unknown): void } }) => {
      const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400;
      reply.code(status).send(faultBody(faultOfStatus(status), err.message.slice(0, 200)));
    },
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;

  // JSON only; an empty body (root enable posts none) is no body.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(['application/json'], { parseAs: 'string' }, (_req, text, done) => {
    const s = String(text);
    if (s.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(s));
    } catch (err) {
      done(new StewardError('INVALID_ARGUMENT', `malformed JSON in the request body: ${(err as Error).message.slice(0, 200)}`), undefined);
    }
  });

  app.setErrorHandler((err: FastifyError, _req, reply) => {
    const framework = err instanceof StewardError ? undefined : faultOfFramework(err);
    if (framework) return reply.code(framework.status).send(faultBody(faultOfStatus(framework.status), framework.message));
    const e = asStewardError(err);
    const fault = faultOfCode(e.code);
    if (fault.status >= 500 && fault.status !== 501 && fault.status !== 503) log.error({ err: e.message, code: e.code }, 'trove request failed');
    // An internal error's text stays in the log.
    const message =
      e.code === 'INTERNAL' || e.code === 'UNKNOWN' ? 'The server has either erred or is incapable of performing the requested operation.' : e.message;
    return reply.code(fault.status).send(faultBody(fault, message));
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).send(faultBody(faultOfStatus(404), 'The resource could not be found.')));

  let url = config.publicUrl ?? '';
  const rest = new Rest(app, new Services(deps), new TroveAuth(deps.security), config, () => url);
  const datastores = new Datastores(rest);
  registerVersions(rest);
  new Instances(rest, datastores).register();
  registerDatabases(rest);
  registerUsers(rest);
  registerRoot(rest);
  registerBackups(rest, datastores);
  registerClusters(rest, datastores);
  datastores.register();

  await app.listen({ host, port });
  const bound = app.server.address() as AddressInfo;
  const shownHost = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  url ||= `${https ? 'https' : 'http'}://${shownHost}:${bound.port}`;
  log.info({ url, tls: !!https }, 'Trove v1.0 API listening');
  return {
    url,
    async close() {
      await app.close();
    },
  };
}
