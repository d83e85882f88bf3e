// A provisioner makes the machine an agent runs on. `local` spawns agents on
// this machine (demos, tests); `external` (later: cloud) leaves it to an
// operator or cloud-init and waits for the agent to connect.
export interface ProvisionRequest {
  instanceId: string;
  datastore: string;
  memoryMb: number;
  /** The datastore's usual client port, used when free. */
  defaultPort: number;
  /** One-time token the agent enrolls with. */
  enrollmentToken: string;
  /** A data volume of this size (MB) under the data directory; 0 or absent: none. */
  volumeSizeMb?: number;
}

export interface Placement {
  host: string;
  port: number;
}

export interface Provisioner {
  provision(req: ProvisionRequest): Promise<Placement>;
  /** Stops the agent and everything it started, and removes the instance's files. Idempotent. */
  destroy(instanceId: string): Promise<void>;
  /** Why this provisioner cannot give instances data volumes, or undefined when it can. */
  volumeUnavailableReason?(): Promise<string | undefined>;
  /** Grows an instance's volume device to `sizeMb` (the agent then grows the filesystem, online). */
  growVolume?(instanceId: string, sizeMb: number): Promise<void>;
  /** Begins supervising (re-adopts agents started before a controller restart). */
  start(): Promise<void>;
  stop(): void;
}
