// Where the Cassandra server lives on this machine and how this manager runs
// it. Nothing here is hard-coded to one layout: the jars come either from the
// Maven cache that scripts/fetch-cassandra.sh fills (tests, demos) or from
// Cassandra's own package (/usr/share/cassandra, started by systemd as the
// `cassandra` unit); the agent's environment says which.
import { access, constants, readdir } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { failedPrecondition } from '../sdk/errors.js';

export interface CassandraOptions {
  /** A directory whose lib/ (and, for the package layout, itself) holds the server's jars. */
  home: string;
  /** A Java 11 or 17 installation (Cassandra 5.0 runs on nothing newer); found under /usr/lib/jvm when unset. */
  javaHome?: string;
  /** Where cassandra.yaml and friends are rendered; the instance's config directory when unset. */
  confDir?: string;
  /** Internode (gossip, streaming) port: the same on every member of a ring. */
  storagePort: number;
  /** JMX port, bound to 127.0.0.1 only; nodetool talks to the server through it. */
  jmxPort: number;
  /**
   * Appended to the server's JVM command line: site policy, or the start-up
   * timings tests shorten (ring delay, superuser set-up delay). They change
   * how fast the server settles, never what this manager does.
   */
  extraJvmOptions: string[];
}

export const DEFAULT_HOME = '/usr/share/cassandra';
export const DEFAULT_STORAGE_PORT = 7000;
export const DEFAULT_JMX_PORT = 7199;

function port(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw failedPrecondition(`${name} must be a port number (got ${JSON.stringify(value)})`);
  return n;
}

/** The manager's options from the agent's environment (STEWARD_CASSANDRA_*). */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): CassandraOptions {
  return {
    home: env.STEWARD_CASSANDRA_HOME || DEFAULT_HOME,
    javaHome: env.STEWARD_CASSANDRA_JAVA_HOME || undefined,
    confDir: env.STEWARD_CASSANDRA_CONF || undefined,
    storagePort: port(env.STEWARD_CASSANDRA_STORAGE_PORT, 'STEWARD_CASSANDRA_STORAGE_PORT', DEFAULT_STORAGE_PORT),
    jmxPort: port(env.STEWARD_CASSANDRA_JMX_PORT, 'STEWARD_CASSANDRA_JMX_PORT', DEFAULT_JMX_PORT),
    extraJvmOptions: (env.STEWARD_CASSANDRA_JVM_OPTS ?? '').split(/\s+/).filter(Boolean),
  };
}

export interface Installation {
  java: string;
  /** Java class path covering the server's jars (wildcards, as java expects them). */
  classpath: string;
  /** The jamm agent jar (-javaagent): Cassandra measures object sizes with it. */
  jamm: string;
}

const exists = (path: string, mode = constants.R_OK): Promise<boolean> =>
  access(path, mode).then(
    () => true,
    () => false,
  );

async function jarsIn(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((f) => f.endsWith('.jar'));
  } catch {
    return [];
  }
}

/** Java 17 first (what Cassandra 5.0 is tested on most), then 11; newer ones are refused by the server. */
async function findJava(javaHome: string | undefined): Promise<string> {
  if (javaHome) {
    const java = join(javaHome, 'bin', 'java');
    if (await exists(java, constants.X_OK)) return java;
    throw failedPrecondition(`no java binary at ${java} (STEWARD_CASSANDRA_JAVA_HOME)`);
  }
  let jvms: string[] = [];
  try {
    jvms = (await readdir('/usr/lib/jvm')).sort();
  } catch {
    /* no system JVMs */
  }
  for (const major of ['17', '11']) {
    for (const dir of jvms.filter((d) => new RegExp(`^(java-${major}-openjdk|temurin-${major}-j|openjdk-${major}$)`).test(d))) {
      const java = join('/usr/lib/jvm', dir, 'bin', 'java');
      if (await exists(java, constants.X_OK)) return java;
    }
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const java = join(dir, 'java');
    if (await exists(java, constants.X_OK)) return java;
  }
  throw failedPrecondition('no Java 17 or 11 runtime found (install openjdk-17-jre-headless or set STEWARD_CASSANDRA_JAVA_HOME)');
}

/** Resolves the options into the files they point at; FAILED_PRECONDITION naming what is missing. */
export async function resolveInstallation(opts: CassandraOptions): Promise<Installation> {
  const lib = join(opts.home, 'lib');
  const libJars = await jarsIn(lib);
  const homeJars = await jarsIn(opts.home);
  const all = [...libJars, ...homeJars];
  if (!all.some((j) => /^(cassandra-all|apache-cassandra)-\d.*\.jar$/.test(j))) {
    throw failedPrecondition(`no Cassandra server jar in ${lib} or ${opts.home} (run scripts/fetch-cassandra.sh, or set STEWARD_CASSANDRA_HOME)`);
  }
  const jammJar = libJars.find((j) => /^jamm-.*\.jar$/.test(j));
  if (!jammJar) throw failedPrecondition(`no jamm agent jar in ${lib}`);
  return {
    java: await findJava(opts.javaHome),
    classpath: [join(lib, '*'), ...(homeJars.length ? [join(opts.home, '*')] : [])].join(':'),
    jamm: join(lib, jammJar),
  };
}
