// postgresql.conf for one instance. Everything the server touches lives under
// the instance's own directories, so several instances can share a host (tests,
// the local provisioner) and nothing depends on /etc/postgresql.
import { join } from 'node:path';
import type { TlsFiles } from '../sdk/contract.js';

export interface ServerSettings {
  dataDir: string;
  hbaFile: string;
  identFile: string;
  port: number;
  bindAddress: string;
  socketDir: string;
  logDir: string;
  memoryMb: number;
  /** Server certificate for client TLS, when the agent has one to give. */
  tls?: TlsFiles;
  /** The archive_command that copies each finished WAL segment into the instance's archive (wal-archive.ts). */
  archiveCommand?: string;
  /** The configuration group's values (group-config.ts), included after Steward's defaults so that they win. */
  groupConf?: string;
  /** The role's settings (replication-config.ts), included last so that they win. */
  replicationConf?: string;
}

/** The file holding the configuration group's values, next to postgresql.conf. */
export const groupConfFile = (configDir: string): string => join(configDir, 'configuration-group.conf');

/** The line postgresql.conf includes `file` with. */
export const includeLine = (file: string): string => `include = ${confValue(file)}`;

/**
 * Every instance can serve replicas, be one, or be rewound, without a restart
 * (only the role's settings change, in the included file): WAL for replicas,
 * room for their senders and slots, hot standby, hint bits logged so that
 * pg_rewind can tell changed pages (data checksums, on from initdb, do that
 * too). A little WAL is kept beyond what slots hold, so that a replica
 * re-pointed to a newly promoted primary, or a rewound former primary, finds
 * the WAL since the fork there. A dead source is noticed within 15 s, and a
 * standby retries its source every second instead of every five.
 */
export const REPLICATION_READY: Record<string, ConfValue> = {
  wal_level: 'replica',
  max_wal_senders: 16,
  max_replication_slots: 16,
  hot_standby: true,
  hot_standby_feedback: true,
  wal_log_hints: true,
  wal_keep_size: '128MB',
  wal_sender_timeout: '15s',
  wal_receiver_timeout: '15s',
  wal_receiver_status_interval: '2s',
  wal_retrieve_retry_interval: '1s',
};

export type ConfValue = string | number | boolean;

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, Math.floor(v)));

/** Memory-derived settings (also what a resize re-renders). */
export function tuning(memoryMb: number): Record<string, ConfValue> {
  // A quarter of the memory for PostgreSQL's own cache and three quarters as
  // the planner's guess of what the OS cache holds: the usual split on a
  // dedicated VM. The floors keep tiny test instances bootable.
  const maxConnections = clamp(memoryMb / 8, 50, 500);
  return {
    shared_buffers: `${Math.max(16, Math.floor(memoryMb * 0.25))}MB`,
    effective_cache_size: `${Math.max(32, Math.floor(memoryMb * 0.75))}MB`,
    max_connections: maxConnections,
    // Per sort/hash node and per connection: kept small enough that many busy sessions do not exhaust memory.
    work_mem: `${clamp(memoryMb / 64, 1, 64)}MB`,
    maintenance_work_mem: `${clamp(memoryMb / 16, 16, 2048)}MB`,
  };
}

/** A value as postgresql.conf reads it: strings single-quoted with quotes doubled. */
export function confValue(value: ConfValue): string {
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`config value ${value} is not a finite number`);
    return String(value);
  }
  // A line break would end the value and let the rest become a setting of its own.
  if (/[\r\n\0]/.test(value)) throw new Error(`config value contains a line break or NUL: ${JSON.stringify(value)}`);
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * The certificate files a rendered postgresql.conf names: how an instance
 * whose saved settings predate recording them keeps its TLS when the file is
 * rendered again. Undefined when the file has no TLS.
 */
export function tlsInConf(conf: string): TlsFiles | undefined {
  const value = (key: string): string | undefined => {
    const m = new RegExp(`^${key} = '((?:[^']|'')*)'$`, 'm').exec(conf);
    return m?.[1]?.replaceAll("''", "'");
  };
  const [certFile, keyFile, caFile] = [value('ssl_cert_file'), value('ssl_key_file'), value('ssl_ca_file')];
  return certFile && keyFile && caFile ? { certFile, keyFile, caFile } : undefined;
}

/** `includes` come last, in order (an object cannot hold "include" twice). */
export function renderConf(entries: Record<string, ConfValue>, header: string, includes: readonly string[] = []): string {
  const out = header.split('\n').map((l) => `# ${l}`.trimEnd());
  for (const [key, value] of Object.entries(entries)) {
    if (!/^[a-z_][a-z0-9_.]*$/.test(key)) throw new Error(`bad config key ${JSON.stringify(key)}`);
    out.push(`${key} = ${confValue(value)}`);
  }
  for (const file of includes) out.push(includeLine(file));
  return `${out.join('\n')}\n`;
}

export function renderPostgresqlConf(s: ServerSettings): string {
  return renderConf(
    {
      data_directory: s.dataDir,
      hba_file: s.hbaFile,
      ident_file: s.identFile,
      listen_addresses: s.bindAddress,
      port: s.port,
      unix_socket_directories: s.socketDir,
      // Only the server's own OS user (and root, i.e. the agent) may even reach the admin socket.
      unix_socket_permissions: '0700',
      password_encryption: 'scram-sha-256',
      // Client TLS with a certificate from the controller's CA (clients choose
      // to require it; pg_hba's "host" lines accept both).
      ...(s.tls
        ? { ssl: true, ssl_cert_file: s.tls.certFile, ssl_key_file: s.tls.keyFile, ssl_ca_file: s.tls.caFile, ssl_min_protocol_version: 'TLSv1.2' }
        : {}),
      ...tuning(s.memoryMb),
      ...REPLICATION_READY,
      // Every finished WAL segment goes to the instance's archive: incremental
      // backups are the archived WAL since their parent.
      ...(s.archiveCommand ? { wal_level: 'replica', archive_mode: true, archive_command: s.archiveCommand } : {}),
      // The collector writes and rotates its own files (a week of daily files);
      // start-up errors before it runs go to the service's console log.
      logging_collector: true,
      log_directory: s.logDir,
      log_filename: 'postgresql-%a.log',
      log_rotation_age: '1d',
      log_rotation_size: 0,
      log_truncate_on_rotation: true,
      log_file_mode: '0640',
      log_line_prefix: '%m [%p] %q%u@%d ',
      log_timezone: 'UTC',
      timezone: 'UTC',
      // Messages in English whatever the host's locale: the agent reads some of them.
      lc_messages: 'C',
    },
    'Rendered by the Steward agent; local edits are overwritten.\nChange settings through configuration groups.',
    // The group's values override the defaults above; the role's settings (which no group may set) come last.
    [...(s.groupConf ? [s.groupConf] : []), ...(s.replicationConf ? [s.replicationConf] : [])],
  );
}
