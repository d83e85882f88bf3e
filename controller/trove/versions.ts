// The API's version documents, the legacy v1 auth endpoint, and the Trove
// endpoints Steward has no service for yet (501 notImplemented in Trove's
// fault format, after authentication, so a client learns "not here" rather
// than "no such thing").
import type { Rest } from './context.js';

const VERSION = { id: 'v1.0', status: 'CURRENT', updated: '2012-08-01T00:00:00Z' };

export function registerVersions(r: Rest): void {
  const app = r.app;
  app.get('/', async () => ({ versions: [{ ...VERSION, links: [{ href: `${r.url()}/v1.0/`, rel: 'self' }] }] }));
  app.get('/v1.0', async () => ({ version: { ...VERSION, links: [{ href: `${r.url()}/v1.0/`, rel: 'self' }] } }));
  app.get('/auth/v1.0', async (req, reply) => {
    const { token, tenant } = await r.auth.v1(req.headers);
    reply.header('X-Auth-Token', token).header('X-Server-Management-Url', `${r.url()}/v1.0/${tenant}`).code(204);
    return reply.send();
  });

  for (const [path, what] of [
    ['/configurations', 'configuration groups'],
    ['/configurations/:id', 'configuration groups'],
    ['/configurations/:id/instances', 'configuration groups'],
    ['/datastores/:ds/versions/:version/parameters', 'configuration parameters'],
    ['/datastores/versions/:version/parameters', 'configuration parameters'],
    ['/limits', 'limits'],
    ['/modules', 'modules'],
    ['/modules/:id', 'modules'],
    ['/instances/:id/modules', 'modules'],
    ['/instances/:id/log', 'guest logs'],
    ['/instances/:id/ssl', 'instance SSL management'],
    ['/mgmt/instances', 'the management API'],
    ['/mgmt/quotas/:project', 'quotas'],
    ['/volume-types', 'volume types'],
  ] as const) {
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const) r.missing(method, path, what);
  }
}
