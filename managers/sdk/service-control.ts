// How a datastore server is started and stopped. Managers describe the service;
// the agent's configuration picks the backend:
//   process  the agent spawns and supervises the server itself (tests, demos, containers)
//   systemd  the server is installed from OS packages and driven through systemctl
// Managers never spawn servers or call systemctl themselves.

export interface ServiceSpec {
  /** Stable name; the systemd unit for the systemd backend (e.g. "mariadb"). */
  name: string;
  /** Process backend: the server binary and its arguments. */
  command: string;
  args: string[];
  /** OS user the server runs as (the process backend drops to it when running as root). */
  user?: string;
  cwd?: string;
  env?: Record<string, string>;
  /** Where the process backend records the server's pid (lets a restarted agent find it). */
  pidFile: string;
  /** Where the server's stdout/stderr go. */
  logFile: string;
  /** Signal for a clean stop (default SIGTERM) and how long to wait before SIGKILL. */
  stopSignal?: NodeJS.Signals;
  stopTimeoutMs?: number;
}

/** What the agent tells its service backend about crashes (agent/main.ts). */
export interface CrashPolicy {
  /** False while the controller, not the agent, handles this server's crash (a replica set's primary: failover). */
  restartAllowed?(spec: ServiceSpec): boolean;
  /** Called at once when the server dies unexpectedly, so the agent reports it without waiting for its next probe. */
  onCrash?(spec: ServiceSpec): void;
}

export type ServiceState = 'running' | 'stopped' | 'crashed';

export interface ServiceControl {
  readonly kind: 'process' | 'systemd';
  /** Starts the service; resolves once the process is running (not necessarily accepting clients). */
  start(spec: ServiceSpec, signal?: AbortSignal): Promise<void>;
  /** Stops cleanly, escalating to SIGKILL after stopTimeoutMs. Stopping a stopped service is fine. */
  stop(spec: ServiceSpec, signal?: AbortSignal): Promise<void>;
  restart(spec: ServiceSpec, signal?: AbortSignal): Promise<void>;
  /**
   * Kills the server at once (SIGKILL, never a graceful stop) and keeps it
   * down: the fence of last resort for a primary that no longer answers (a
   * frozen process would otherwise take the writes queued for it on waking).
   */
  kill(spec: ServiceSpec): Promise<void>;
  state(spec: ServiceSpec): Promise<ServiceState>;
  /** The server's pid when known (process backend), for diagnostics. */
  pid(spec: ServiceSpec): Promise<number | undefined>;
  /** The instance is deleted: after stop(), drops what the backend keeps for the server (the systemd drop-in, the watch). */
  forget(spec: ServiceSpec): Promise<void>;
}
