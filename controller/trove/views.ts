// How Steward's resources look in Trove's JSON: links, times, flavors and the
// instance, backup and cluster views (trove/*/views.py).
import { createHash } from 'node:crypto';
import type { Instance } from '../../proto/gen/steward/v1/api.js';
import { BackupStatus, type Backup } from '../../proto/gen/steward/v1/backups.js';
import { ReplicationRole } from '../../proto/gen/steward/v1/replication.js';
import { flavorOf } from '../notifications/payloads/instance.js';
import { troveDate } from '../notifications/message.js';
import { notFound } from '../../managers/sdk/errors.js';
import type { Json } from './body.js';
import { operatingStatus, troveStatus } from './status.js';

/** Where a request's links point: `root` is the server, `base` adds `/v1.0/{tenant}`. */
export interface Place {
  root: string;
  base: string;
  tenant: string;
}

export interface Link {
  href: string;
  rel: string;
}

export function links(p: Place, path: string): Link[] {
  return [
    { href: `${p.base}/${path}`, rel: 'self' },
    { href: `${p.root}/${path}`, rel: 'bookmark' },
  ];
}

/** Times as Trove's API shows them: UTC without a zone. */
export const time = (iso: string): string | null => troveDate(iso || null);

/** A stable UUID for a name (datastores and their versions have no ids of their own). */
export function nameUuid(...parts: string[]): string {
  const h = createHash('sha1')
    .update(`steward-trove:${parts.join('\0')}`)
    .digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((Number.parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

// ---- flavors: Steward's memory sizes ---------------------------------------------

/** The flavors offered: memory sizes in MB; a flavor's id is its size ("512"). */
export const FLAVOR_SIZES = [128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536] as const;

export function flavorView(mb: number, p: Place): Json {
  return { id: mb, str_id: String(mb), name: flavorOf(mb), ram: mb, vcpus: 1, disk: 0, ephemeral: 0, links: links(p, `flavors/${mb}`) };
}

/** The memory size of a flavor reference (an id or an href ending in one). */
export function memoryOfFlavor(id: string): number {
  const mb = /^\d{1,7}$/.test(id) ? Number(id) : Number.NaN;
  if (!(FLAVOR_SIZES as readonly number[]).includes(mb)) throw notFound(`Flavor ${id.slice(0, 64)} could not be found.`);
  return mb;
}

// ---- instances ---------------------------------------------------------------------

export function instanceView(i: Instance, p: Place, o: { detail: boolean; backupRunning: boolean }): Json {
  const st = troveStatus(i, o.backupRunning);
  const v: Json = {
    id: i.id,
    name: i.name,
    status: st.status,
    operating_status: operatingStatus(i),
    links: links(p, `instances/${i.id}`),
    flavor: { id: String(i.memoryMb), links: links(p, `flavors/${i.memoryMb}`) },
    datastore: { type: i.datastore, version: i.datastoreVersion || null },
    tenant_id: p.tenant,
  };
  if (i.host) {
    v.ip = [i.host];
    v.addresses = [{ address: i.host, type: 'private' }];
  }
  if (i.replicaOf) v.replica_of = { id: i.replicaOf, links: links(p, `instances/${i.replicaOf}`) };
  if (!o.detail) return v;
  v.created = time(i.createdAt);
  v.updated = time(i.updatedAt);
  v.service_status_updated = time(i.lastHeartbeatAt);
  if (i.port) v.port = i.port;
  if (i.role === ReplicationRole.PRIMARY || i.replicas.length) {
    v.replicas = i.replicas.map((id) => ({ id, links: links(p, `instances/${id}`) }));
  }
  if (st.fault) v.fault = { message: st.fault, created: time(i.updatedAt), details: '' };
  return v;
}

// ---- backups -----------------------------------------------------------------------

const GIB = 1024 ** 3;

export function backupView(b: Backup, p: Place): Json {
  return {
    id: b.id,
    name: b.name,
    description: b.description || null,
    locationRef: b.location || null,
    instance_id: b.instanceId,
    created: time(b.createdAt),
    updated: time(b.updatedAt),
    // Trove reports the size in GB.
    size: b.size ? Number((Number(b.size) / GIB).toFixed(6)) : null,
    status: BackupStatus[b.status] ?? 'UNSPECIFIED',
    parent_id: b.parentId || null,
    datastore: { type: b.datastore, version: b.datastoreVersion || null, version_id: b.datastoreVersion ? nameUuid(b.datastore, b.datastoreVersion) : null },
    project_id: b.tenantId,
    ...(b.message ? { fault: b.message } : {}),
    links: links(p, `backups/${b.id}`),
  };
}
