// A restored RDB goes into the data directory as the base of a new
// multi-part AOF, not as dump.rdb. The configuration says `appendonly yes`,
// and with the AOF on Redis 7 loads the AOF and never reads dump.rdb: a
// dump.rdb alone would start an empty server. A Redis 7 AOF base may be an RDB
// file (that is what aof-use-rdb-preamble writes), and a manifest naming only
// a base is a complete AOF: the server loads exactly this file with its
// normal configuration, then adds its own incremental file and rewrites the
// manifest.
//
// We did not choose "start once with appendonly off, then CONFIG SET
// appendonly yes": the data directory would need a special first start to be
// usable at all, and loading through the RDB path also adopts the source's
// replication ID (as replid2) into the new server, which should have its own.
import { chown, mkdir, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../sdk/config-file.js';
import type { OsUser } from '../sdk/os-user.js';
import { AOF_DIR, AOF_FILE } from './config.js';

export interface AofLayout {
  dir: string;
  base: string;
  manifest: string;
}

/** The names Redis itself gives the first base file and the manifest (appendfilename + ".1.base.rdb" / ".manifest"). */
export const BASE_NAME = `${AOF_FILE}.1.base.rdb`;
export const MANIFEST_NAME = `${AOF_FILE}.manifest`;

export const aofLayout = (dataDir: string): AofLayout => {
  const dir = join(dataDir, AOF_DIR);
  return { dir, base: join(dir, BASE_NAME), manifest: join(dir, MANIFEST_NAME) };
};

/** The manifest of an AOF that is one RDB base and nothing else yet. */
export const baseOnlyManifest = (): string => `file ${BASE_NAME} seq 1 type b\n`;

/** The AOF directory, made for the server's user: it writes its incremental files and a new manifest there. */
export async function makeAofDir(layout: AofLayout, owner: OsUser | undefined): Promise<void> {
  await mkdir(layout.dir, { mode: 0o750 });
  if (owner) await chown(layout.dir, owner.uid, owner.gid);
}

async function fsync(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Makes `rdbFile` (already inside layout.dir, checked) the AOF base. The
 * manifest comes last: until it exists the directory is no AOF the server
 * would load, so an interrupted restore never looks like a complete one.
 */
export async function installAofBase(layout: AofLayout, rdbFile: string, owner: OsUser | undefined): Promise<void> {
  await fsync(rdbFile);
  if (owner) await chown(rdbFile, owner.uid, owner.gid);
  await rename(rdbFile, layout.base);
  await writeFileAtomic(layout.manifest, baseOnlyManifest(), { mode: 0o600, uid: owner?.uid, gid: owner?.gid });
}
