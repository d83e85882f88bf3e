// my.cnf for one instance. Everything the server touches lives under the
// instance's own directories, so several instances can share a host (tests,
// the local provisioner) and nothing depends on /etc/mysql.
import { dirname, join } from 'node:path';
import { renderIni } from '../sdk/config-file.js';
import type { FlavourName } from './flavour.js';
import type { TlsFiles } from '../sdk/contract.js';

export interface ServerSettings {
  flavour: FlavourName;
  dataDir: string;
  port: number;
  bindAddress: string;
  socket: string;
  pidFile: string;
  errorLog: string;
  memoryMb: number;
  /** Server certificate for client TLS, when the agent has one to give. */
  tls?: TlsFiles;
  /** Unique per instance in a replica set (replication-config.ts derives it from the instance id). */
  serverId?: number;
}

/** What replication adds to my.cnf: the role's read_only and the semi-synchronous settings, kept across restarts. */
export interface ReplicationSettings {
  readOnly: boolean;
  semiSyncSource: boolean;
  semiSyncReplica: boolean;
}

/**
 * Every MariaDB instance can serve replicas without a restart: binary log with
 * GTIDs, row format, replicated transactions logged too (a replica can become
 * a source, or be promoted, with its history intact), strict GTID mode (a
 * transaction out of order stops replication instead of diverging silently).
 */
function replicationEntries(s: ServerSettings, r: ReplicationSettings | undefined): Record<string, string | number | boolean | undefined> {
  if (s.flavour !== 'mariadb' || !s.serverId) return {};
  return {
    server_id: s.serverId,
    log_bin: 'mysql-bin',
    log_bin_index: 'mysql-bin.index',
    relay_log: 'relay-bin',
    relay_log_index: 'relay-bin.index',
    binlog_format: 'ROW',
    log_slave_updates: 'ON',
    gtid_strict_mode: 'ON',
    // A replica restarted by a crash re-fetches what its relay log may have lost.
    relay_log_recovery: 'ON',
    read_only: r?.readOnly ? 'ON' : undefined,
    rpl_semi_sync_master_enabled: r?.semiSyncSource ? 'ON' : undefined,
    rpl_semi_sync_master_wait_point: r?.semiSyncSource ? 'AFTER_SYNC' : undefined,
    // Synchronous means synchronous: never fall back to asynchronous after a timeout (about 292 million years).
    rpl_semi_sync_master_timeout: r?.semiSyncSource ? '18446744073709551615' : undefined,
    rpl_semi_sync_slave_enabled: r?.semiSyncReplica ? 'ON' : undefined,
  };
}

/**
 * What Steward renders regardless of memory; configuration groups may
 * override them (parameters.ts). A week of binary log is enough for any
 * replica to catch up or a point-in-time restore from the last full backup;
 * every transaction's binary log is synced so a crash loses nothing a replica
 * already has.
 */
export const FIXED_SETTINGS = {
  character_set_server: 'utf8mb4',
  binlog_expire_logs_seconds: 7 * 24 * 3600,
  sync_binlog: 1,
} as const;

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, Math.floor(v)));

/** Memory-derived settings (also what a resize re-renders). */
export function tuning(memoryMb: number): Record<string, string | number> {
  // Half the memory for InnoDB's cache, the usual share on a dedicated VM; the
  // floor keeps tiny test instances bootable.
  const bufferPoolMb = Math.max(32, Math.floor(memoryMb * 0.5));
  const maxConnections = clamp(memoryMb / 4, 50, 4000);
  return {
    innodb_buffer_pool_size: `${bufferPoolMb}M`,
    // Redo sized to the cache: big enough to absorb write bursts, small enough for quick recovery.
    innodb_log_file_size: `${clamp(bufferPoolMb / 4, 16, 2048)}M`,
    max_connections: maxConnections,
    thread_cache_size: clamp(maxConnections / 8, 8, 100),
    table_open_cache: clamp(memoryMb * 2, 400, 4000),
    tmp_table_size: `${clamp(memoryMb / 16, 16, 256)}M`,
    max_heap_table_size: `${clamp(memoryMb / 16, 16, 256)}M`,
    key_buffer_size: '8M', // MyISAM holds nothing of ours
    // performance_schema costs MySQL 8 a few hundred MB: only worth it on larger instances.
    performance_schema: memoryMb >= 1024 ? 'ON' : 'OFF',
  };
}

/**
 * `parameters` are the configuration group's parameters as my.cnf entries
 * (parameters.ts: Steward's defaults overridden by the group's values); they
 * come after the memory tuning they may override and before replication's
 * entries, which no group may set.
 */
export function renderMyCnf(s: ServerSettings, replication?: ReplicationSettings, parameters: Record<string, string> = {}): string {
  return renderIni(
    {
      mysqld: {
        datadir: s.dataDir,
        port: s.port,
        'bind-address': s.bindAddress,
        socket: s.socket,
        'pid-file': s.pidFile,
        log_error: s.errorLog,
        // Beside the error log, under the names mysqlPaths gives them (settings rendered before these existed have no fields for them).
        slow_query_log_file: join(dirname(s.errorLog), 'mysqld-slow.log'),
        general_log_file: join(dirname(s.errorLog), 'mysqld-general.log'),
        ...FIXED_SETTINGS,
        // Host patterns are matched against client IPs; DNS would only add latency and spoofing risk.
        'skip-name-resolve': true,
        'local-infile': 0,
        // MySQL 8's X plugin listens on a fixed port that would collide between instances on one host.
        mysqlx: s.flavour === 'mysql' ? 'OFF' : undefined,
        ...tuning(s.memoryMb),
        ...parameters,
        // Clients may (and users created REQUIRE SSL must) use TLS with a certificate from the controller's CA.
        ssl_cert: s.tls?.certFile,
        ssl_key: s.tls?.keyFile,
        ssl_ca: s.tls?.caFile,
        ...replicationEntries(s, replication),
      },
      client: {
        socket: s.socket,
        port: s.port,
      },
    },
    'Rendered by the Steward agent; local edits are overwritten.\nChange settings through configuration groups.',
  );
}
