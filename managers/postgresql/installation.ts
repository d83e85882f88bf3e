// Where the PostgreSQL server binaries are. Distributions install each major
// version side by side (Debian: /usr/lib/postgresql/<major>/bin, PGDG on RHEL:
// /usr/pgsql-<major>/bin). A data directory only works with the major version
// that initialised it, so a prepared instance keeps the major it was made with
// and a newer package installed later never takes over its data.
import { access, constants, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { failedPrecondition } from '../sdk/errors.js';

export interface Installation {
  major: number;
  binDir: string;
}

const LAYOUTS: Array<{ parent: string; dir: RegExp; bin: (name: string) => string }> = [
  { parent: '/usr/lib/postgresql', dir: /^(\d+)$/, bin: (name) => join('/usr/lib/postgresql', name, 'bin') },
  { parent: '/usr', dir: /^pgsql-(\d+)$/, bin: (name) => join('/usr', name, 'bin') },
];

const executable = (path: string): Promise<boolean> =>
  access(path, constants.X_OK).then(
    () => true,
    () => false,
  );

/** Every installed major version with a server and initdb, newest first. */
export async function findInstallations(): Promise<Installation[]> {
  const found: Installation[] = [];
  for (const layout of LAYOUTS) {
    const names = await readdir(layout.parent).catch(() => [] as string[]);
    for (const name of names) {
      const m = layout.dir.exec(name);
      if (!m) continue;
      const binDir = layout.bin(name);
      if ((await executable(join(binDir, 'postgres'))) && (await executable(join(binDir, 'initdb')))) {
        found.push({ major: Number(m[1]), binDir });
      }
    }
  }
  return found.sort((a, b) => b.major - a.major);
}

/** The installation of `major`, or the newest one when no major is asked for. */
export async function findInstallation(major?: number): Promise<Installation> {
  const all = await findInstallations();
  const match = major === undefined ? all[0] : all.find((i) => i.major === major);
  if (match) return match;
  throw failedPrecondition(
    major === undefined
      ? 'no PostgreSQL server is installed (looked for /usr/lib/postgresql/<major>/bin and /usr/pgsql-<major>/bin)'
      : `this instance was prepared with PostgreSQL ${major}, which is no longer installed`,
  );
}

/** The server's tools; Debian links the client ones (pg_basebackup) into the same directory. */
export type Tool = 'postgres' | 'initdb' | 'pg_basebackup' | 'pg_controldata' | 'pg_rewind';

export const bin = (inst: Installation, tool: Tool): string => join(inst.binDir, tool);
