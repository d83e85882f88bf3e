// MariaDB and MySQL 8 share the protocol, SQL and this manager; they differ in
// binary names, how a data directory is initialised, their built-in accounts
// and what "root@localhost" is after initialisation.
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { failedPrecondition } from '../sdk/errors.js';
import type { Runner } from '../sdk/runner.js';

export type FlavourName = 'mariadb' | 'mysql';

export interface Command {
  command: string;
  args: string[];
}

export interface Flavour {
  readonly name: FlavourName;
  /** Absolute path of the server binary. */
  readonly server: string;
  /** The distribution's systemd unit (used with the systemd service backend). */
  readonly unit: string;
  /** Accounts the server creates for itself. */
  readonly systemUsers: readonly string[];
  /** Initialises an empty data directory described by `defaultsFile`; `osUser` when running as root. */
  initCommand(defaultsFile: string, osUser?: string): Command;
  /**
   * Statements (with their parameters) that close root@localhost after the admin
   * account exists. MariaDB's is unix_socket only (OS root, i.e. the agent), so
   * it stays; MySQL's --initialize-insecure root has an empty password.
   */
  lockLocalRoot(randomPassword: string): Array<[string, unknown[]]>;
}

const SEARCH_DIRS = ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', '/usr/local/mysql/bin'];

async function findBinary(names: string[]): Promise<string | undefined> {
  for (const dir of SEARCH_DIRS) {
    for (const name of names) {
      const path = join(dir, name);
      try {
        await access(path, constants.X_OK);
        return path;
      } catch {
        /* keep looking */
      }
    }
  }
  return undefined;
}

function mariadb(server: string, installDb: string): Flavour {
  return {
    name: 'mariadb',
    server,
    unit: 'mariadb',
    systemUsers: ['root', 'mysql', 'mariadb.sys'],
    initCommand: (defaultsFile, osUser) => ({
      command: installDb,
      // --defaults-file must come first; no test database, and root@localhost
      // reachable only through the unix socket by OS root. --force skips the
      // script's hostname lookup (its only effect): the server resolves no names
      // (skip-name-resolve), and a VM whose hostname does not resolve must still prepare.
      args: [
        `--defaults-file=${defaultsFile}`,
        '--skip-test-db',
        '--force',
        '--auth-root-authentication-method=socket',
        ...(osUser ? [`--user=${osUser}`] : []),
      ],
    }),
    lockLocalRoot: () => [],
  };
}

function mysql(server: string): Flavour {
  return {
    name: 'mysql',
    server,
    unit: 'mysql',
    systemUsers: ['root', 'mysql.sys', 'mysql.session', 'mysql.infoschema'],
    initCommand: (defaultsFile, osUser) => ({
      command: server,
      args: [`--defaults-file=${defaultsFile}`, '--initialize-insecure', ...(osUser ? [`--user=${osUser}`] : [])],
    }),
    lockLocalRoot: (pw) => [["ALTER USER 'root'@'localhost' IDENTIFIED BY ? ACCOUNT LOCK", [pw]]],
  };
}

/** MariaDB reports itself in VERSION() ("10.11.6-MariaDB-0+deb12u1"); MySQL does not. */
export const flavourFromVersion = (version: string): FlavourName => (/mariadb/i.test(version) ? 'mariadb' : 'mysql');

let detected: Promise<Flavour> | undefined;

/** Which server is installed, by its binaries (cached: packages do not change under a running agent). */
export function detectFlavour(runner: Runner): Promise<Flavour> {
  detected ??= (async () => {
    const mariadbd = await findBinary(['mariadbd']);
    const installDb = await findBinary(['mariadb-install-db', 'mysql_install_db']);
    if (mariadbd && installDb) return mariadb(mariadbd, installDb);
    const mysqld = await findBinary(['mysqld']);
    if (!mysqld) throw failedPrecondition('neither mariadbd nor mysqld is installed');
    // Older MariaDB packages ship only "mysqld"; ask it.
    const { stdout } = await runner(mysqld, ['--version'], { timeoutMs: 30_000 });
    if (flavourFromVersion(stdout) === 'mariadb') {
      if (!installDb) throw failedPrecondition('MariaDB server found but mariadb-install-db is missing');
      return mariadb(mysqld, installDb);
    }
    return mysql(mysqld);
  })().catch((err) => {
    detected = undefined; // let a later call retry once the host is fixed
    throw err;
  });
  return detected;
}
