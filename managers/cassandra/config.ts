// The node's settings and the files rendered from them: cassandra.yaml,
// cassandra-rackdc.properties (GossipingPropertyFileSnitch reads the data
// center and rack there) and logback. Everything the server writes lives under
// the instance's own directories, so several nodes can share a host (tests,
// the local provisioner) on distinct loopback addresses.
import { readFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { writeFileAtomic } from '../sdk/config-file.js';
import { failedPrecondition } from '../sdk/errors.js';
import type { CassandraPaths } from './paths.js';

/** What a node is, as prepared; persisted so that config files can be re-rendered (set_seeds) and the command line rebuilt. */
export interface NodeSettings {
  clusterName: string;
  seeds: string[];
  dataCenter: string;
  rack: string;
  /** Stream data from the ring on first start: false for the initial members, true when growing. */
  autoBootstrap: boolean;
  /** listen_address and rpc_address: one address for gossip and clients. */
  address: string;
  nativePort: number;
  storagePort: number;
  jmxPort: number;
  /** What prepare was given, or the last resize: the heap, the pools and the caches are sized from it on every render. */
  memoryMb: number;
}

export const DEFAULT_DATA_CENTER = 'dc1';
export const DEFAULT_RACK = 'rack1';

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, Math.floor(v)));

/** cassandra-env.sh's rule: max(min(half the memory, 1 GiB), min(a quarter, 8 GiB)). */
export function heapMb(memoryMb: number): number {
  const half = Math.min(Math.floor(memoryMb / 2), 1024);
  const quarter = Math.min(Math.floor(memoryMb / 4), 8192);
  return Math.max(half, quarter, 256);
}

/** Memory-derived settings (also what a resize re-renders). */
export function tuning(memoryMb: number): Record<string, number> {
  // Each request thread holds buffers on the heap: small machines get fewer.
  const small = memoryMb < 4096;
  return {
    concurrent_reads: small ? 8 : 32,
    concurrent_writes: small ? 8 : 32,
    concurrent_counter_writes: small ? 8 : 32,
    concurrent_materialized_view_writes: small ? 4 : 32,
    concurrent_compactors: small ? 1 : clamp(memoryMb / 8192, 2, 8),
  };
}

/**
 * Cassandra's own rule for its caches when cassandra.yaml leaves them unset
 * (min(5% of the heap, 100 MiB) and min(2.5%, 50 MiB)), applied to the heap
 * Steward gives it: rendered explicitly, so a configuration group has a
 * default to go back to.
 */
export function cacheSizesMb(memoryMb: number): { key_cache_size: number; counter_cache_size: number } {
  const heap = heapMb(memoryMb);
  return {
    key_cache_size: Math.min(Math.max(1, Math.floor(heap * 0.05)), 100),
    counter_cache_size: Math.min(Math.max(1, Math.floor(heap * 0.025)), 50),
  };
}

/** Entries rendered last, overriding the defaults above: the configuration group's parameters (parameters.ts). */
export type YamlEntries = Readonly<Record<string, string | number | boolean>>;

export function renderCassandraYaml(s: NodeSettings, paths: CassandraPaths, parameters: YamlEntries = {}): string {
  const config = {
    cluster_name: s.clusterName,
    num_tokens: 16,
    // Balanced token allocation for the usual replication factor (random tokens until there are that many nodes).
    allocate_tokens_for_local_replication_factor: 3,
    partitioner: 'org.apache.cassandra.dht.Murmur3Partitioner',
    authenticator: 'PasswordAuthenticator',
    authorizer: 'CassandraAuthorizer',
    role_manager: 'CassandraRoleManager',
    auto_bootstrap: s.autoBootstrap,
    data_file_directories: [paths.dataFiles],
    commitlog_directory: paths.commitlog,
    hints_directory: paths.hints,
    saved_caches_directory: paths.savedCaches,
    cdc_raw_directory: paths.cdcRaw,
    commitlog_sync: 'periodic',
    commitlog_sync_period: '10000ms',
    disk_failure_policy: 'stop',
    commit_failure_policy: 'stop',
    seed_provider: [
      {
        class_name: 'org.apache.cassandra.locator.SimpleSeedProvider',
        parameters: [{ seeds: s.seeds.join(',') }],
      },
    ],
    listen_address: s.address,
    rpc_address: s.address,
    storage_port: s.storagePort,
    native_transport_port: s.nativePort,
    start_native_transport: true,
    endpoint_snitch: 'GossipingPropertyFileSnitch',
    ...tuning(s.memoryMb),
    ...parameters,
  };
  const header = '# Rendered by the Steward agent; local edits are overwritten.\n# Change settings through configuration groups.\n';
  return header + stringify(config, { lineWidth: 0 });
}

export function renderRackdc(s: Pick<NodeSettings, 'dataCenter' | 'rack'>): string {
  for (const v of [s.dataCenter, s.rack]) if (/[\r\n\0=:\\]/.test(v)) throw new Error(`bad data center or rack name ${JSON.stringify(v)}`);
  return `# Rendered by the Steward agent.\ndc=${s.dataCenter}\nrack=${s.rack}\n`;
}

const xml = (v: string): string => v.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);

/** system.log in the server's log directory, rolled; warnings also on stdout (the console log). */
export function renderLogback(paths: Pick<CassandraPaths, 'serverLogDir'>): string {
  const dir = xml(paths.serverLogDir);
  return `<configuration scan="false">
  <shutdownHook class="ch.qos.logback.core.hook.DefaultShutdownHook"/>
  <appender name="SYSTEMLOG" class="ch.qos.logback.core.rolling.RollingFileAppender">
    <file>${dir}/system.log</file>
    <rollingPolicy class="ch.qos.logback.core.rolling.SizeAndTimeBasedRollingPolicy">
      <fileNamePattern>${dir}/system.log.%d{yyyy-MM-dd}.%i.zip</fileNamePattern>
      <maxFileSize>50MB</maxFileSize>
      <maxHistory>7</maxHistory>
      <totalSizeCap>1GB</totalSizeCap>
    </rollingPolicy>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <filter class="ch.qos.logback.classic.filter.ThresholdFilter"><level>WARN</level></filter>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO">
    <appender-ref ref="SYSTEMLOG"/>
    <appender-ref ref="STDOUT"/>
  </root>
</configuration>
`;
}

/** nodetool's stdout is parsed: its own logging goes to stderr, warnings only. */
export const TOOLS_LOGBACK = `<configuration scan="false">
  <appender name="STDERR" class="ch.qos.logback.core.ConsoleAppender">
    <target>System.err</target>
    <encoder><pattern>%-5level %msg%n</pattern></encoder>
  </appender>
  <root level="WARN"><appender-ref ref="STDERR"/></root>
</configuration>
`;

export async function loadSettings(paths: CassandraPaths): Promise<NodeSettings> {
  try {
    return JSON.parse(await readFile(paths.settings, 'utf8')) as NodeSettings;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw failedPrecondition('Cassandra has not been prepared on this instance');
    throw err;
  }
}

/**
 * Saves the settings and renders every config file from them and the
 * configuration group's entries (required: no render may drop the group);
 * the server reads them on its next start.
 */
export async function writeConfig(paths: CassandraPaths, s: NodeSettings, parameters: YamlEntries): Promise<void> {
  await writeFileAtomic(paths.settings, `${JSON.stringify(s, null, 2)}\n`, { mode: 0o644 });
  await writeFileAtomic(paths.yaml, renderCassandraYaml(s, paths, parameters), { mode: 0o644 });
  await writeFileAtomic(paths.rackdc, renderRackdc(s), { mode: 0o644 });
  await writeFileAtomic(paths.logback, renderLogback(paths), { mode: 0o644 });
  await writeFileAtomic(paths.toolsLogback, TOOLS_LOGBACK, { mode: 0o644 });
}
