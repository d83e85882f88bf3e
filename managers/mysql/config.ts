// my.cnf for one instance. Everything the server touches lives under the
// instance's own directories, so several instances can share a host (tests,
// the local provisioner) and nothing depends on /etc/mysql.
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
}

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

export function renderMyCnf(s: ServerSettings): string {
  return renderIni(
    {
      mysqld: {
        datadir: s.dataDir,
        port: s.port,
        'bind-address': s.bindAddress,
        socket: s.socket,
        'pid-file': s.pidFile,
        log_error: s.errorLog,
        'character-set-server': 'utf8mb4',
        // Host patterns are matched against client IPs; DNS would only add latency and spoofing risk.
        'skip-name-resolve': true,
        'local-infile': 0,
        // MySQL 8's X plugin listens on a fixed port that would collide between instances on one host.
        mysqlx: s.flavour === 'mysql' ? 'OFF' : undefined,
        ...tuning(s.memoryMb),
        // Clients may (and users created REQUIRE SSL must) use TLS with a certificate from the controller's CA.
        ssl_cert: s.tls?.certFile,
        ssl_key: s.tls?.keyFile,
        ssl_ca: s.tls?.caFile,
      },
      client: {
        socket: s.socket,
        port: s.port,
      },
    },
    'Rendered by the Steward agent; local edits are overwritten.\nChange settings through configuration groups.',
  );
}
