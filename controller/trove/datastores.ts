// Datastores and their versions, and flavors. A datastore is a manager in the
// controller's catalog; its versions are the server versions its agents have
// reported (what the installed servers are), so a datastore nobody has run yet
// lists none. Ids are stable UUIDs derived from the names; every lookup takes
// a name or an id, as Trove's does.
import { notFound } from '../../managers/sdk/errors.js';
import type { Json } from './body.js';
import type { Rest } from './context.js';
import { FLAVOR_SIZES, flavorView, links, memoryOfFlavor, nameUuid, type Place } from './views.js';
import { paginate, pageQuery, nextHref } from './paging.js';

export class Datastores {
  constructor(private readonly r: Rest) {}

  names(): string[] {
    return this.r.s.ctx.catalog.names();
  }

  /** A datastore's name from its name or id; an unknown one is passed through for the service to refuse. */
  nameOf(ref: string): string {
    return this.names().find((n) => n === ref || nameUuid(n) === ref) ?? ref;
  }

  /** The server versions reported for a datastore, newest report first, without repeats. */
  async versions(datastore: string): Promise<string[]> {
    const rows = await this.r.s.ctx.store
      .selectFrom('agents')
      .select('datastore_version')
      .where('datastore', '=', datastore)
      .where('datastore_version', '!=', '')
      .orderBy('last_heartbeat_at', 'desc')
      .execute();
    return [...new Set(rows.map((r) => r.datastore_version))];
  }

  /** A version's name from its name or id (unknown ones pass through: the instance records what was asked). */
  async versionOf(datastore: string, ref: string): Promise<string> {
    if (!ref) return '';
    return (await this.versions(datastore)).find((v) => v === ref || nameUuid(datastore, v) === ref) ?? ref;
  }

  private versionView(ds: string, v: string, p: Place): Json {
    const id = nameUuid(ds, v);
    return { id, name: v, version: v, datastore: nameUuid(ds), active: 1, packages: '', image: '', links: links(p, `datastores/versions/${id}`) };
  }

  private async view(ds: string, p: Place): Promise<Json> {
    const versions = await this.versions(ds);
    return {
      id: nameUuid(ds),
      name: ds,
      links: links(p, `datastores/${nameUuid(ds)}`),
      ...(versions.length ? { default_version: nameUuid(ds, versions[0]) } : {}),
      versions: versions.map((v) => ({ id: nameUuid(ds, v), name: v, version: v, active: 1, links: links(p, `datastores/versions/${nameUuid(ds, v)}`) })),
    };
  }

  private known(ref: string): string {
    const name = this.nameOf(ref);
    if (!this.names().includes(name)) throw notFound(`Datastore '${ref.slice(0, 64)}' cannot be found.`);
    return name;
  }

  private async version(ds: string, ref: string): Promise<string> {
    const v = (await this.versions(ds)).find((x) => x === ref || nameUuid(ds, x) === ref);
    if (!v) throw notFound(`Datastore version '${ref.slice(0, 64)}' cannot be found.`);
    return v;
  }

  register(): void {
    const r = this.r;
    r.route('GET', '/datastores', 200, async (c) => {
      const q = pageQuery(c.query, r.config.pageSize);
      const all = await Promise.all(this.names().map((n) => this.view(n, c.place)));
      const { page, links: next } = paginate(
        all,
        (d) => String(d.id),
        q,
        (m) => nextHref(c.place.base, 'datastores', c.query, q.limit, m),
      );
      return { datastores: page, links: next };
    });
    r.route('GET', '/datastores/:ds', 200, async (c) => ({ datastore: await this.view(this.known(c.params.ds), c.place) }));
    r.route('GET', '/datastores/:ds/versions', 200, async (c) => {
      const ds = this.known(c.params.ds);
      return { versions: (await this.versions(ds)).map((v) => this.versionView(ds, v, c.place)) };
    });
    r.route('GET', '/datastores/:ds/versions/:version', 200, async (c) => {
      const ds = this.known(c.params.ds);
      return { version: this.versionView(ds, await this.version(ds, c.params.version), c.place) };
    });
    r.route('GET', '/datastores/versions/:version', 200, async (c) => {
      for (const ds of this.names()) {
        const v = (await this.versions(ds)).find((x) => nameUuid(ds, x) === c.params.version);
        if (v) return { version: this.versionView(ds, v, c.place) };
      }
      throw notFound(`Datastore version '${c.params.version.slice(0, 64)}' cannot be found.`);
    });
    r.route('GET', '/datastores/:ds/versions/:version/flavors', 200, async (c) => {
      const ds = this.known(c.params.ds);
      await this.version(ds, c.params.version);
      return { flavors: FLAVOR_SIZES.map((mb) => flavorView(mb, c.place)) };
    });
    r.route('GET', '/flavors', 200, async (c) => ({ flavors: FLAVOR_SIZES.map((mb) => flavorView(mb, c.place)) }));
    r.route('GET', '/flavors/:id', 200, async (c) => ({ flavor: flavorView(memoryOfFlavor(c.params.id), c.place) }));
  }
}
