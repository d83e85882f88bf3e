// Where the controller is, who we are to it, and a promise-shaped facade over
// the generated grpc-js clients. Settings resolve flag > environment > config
// file > default, and every source is named so that errors can point at it.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  connectivityState,
  credentials,
  Metadata,
  type CallOptions,
  type ChannelCredentials,
  type Client,
  type ClientUnaryCall,
  type ServiceError,
} from '@grpc/grpc-js';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import {
  AccessApiRequest,
  ChangePasswordApiRequest,
  CreateDatabasesApiRequest,
  CreateInstanceRequest,
  CreateUsersApiRequest,
  DatabasesClient,
  DeleteDatabaseApiRequest,
  InstancesClient,
  ListDatabasesApiRequest,
  ListUsersApiRequest,
  OperationsClient,
  RootClient,
  UserApiRequest,
  UsersClient,
  type CreateInstanceResponse,
  type DeleteInstanceResponse,
  type EnrollmentTokenResponse,
  type Instance,
} from '../proto/gen/steward/v1/api.js';
import type { Database, Operation, RingView, RootResult, User, UserRef } from '../proto/gen/steward/v1/common.js';
import { ReplicaSetsClient, UpdateReplicaSetRequest, type FailoverMode, type ReplicaSet } from '../proto/gen/steward/v1/replication.js';
import { ClustersClient, CreateClusterRequest, GrowClusterRequest, type Cluster, type MemberSpec } from '../proto/gen/steward/v1/clusters.js';
import { BackupsClient, CreateBackupApiRequest, type Backup } from '../proto/gen/steward/v1/backups.js';
import {
  ConfigurationsClient,
  CreateConfigurationRequest,
  UpdateConfigurationRequest,
  type ConfigurationDefaultsResponse,
  type ConfigurationGroup,
  type UpdateConfigurationResponse,
} from '../proto/gen/steward/v1/configurations.js';
import { LogApiRequest, LogsClient, type PublishedLog, type PublishLogResponse } from '../proto/gen/steward/v1/logs.js';
import type { GuestLog, GuestLogTail } from '../proto/gen/steward/v1/log-types.js';

/** Requests are built with fromPartial: ts-proto encodes a missing string field as "undefined", and the API keeps growing fields. */
export type NewDatabase = Partial<Omit<Database, 'name'>> & { name: string };
export type NewUser = Partial<Omit<User, 'name'>> & { name: string };
import { fromServiceError, isServiceError, UsageError, type Target } from './errors.js';

export const DEFAULT_CONTROLLER = '127.0.0.1:50051';

/** Unary calls the controller answers through an agent wait up to ~60 s server-side (Root.Enable); leave room. */
const DEFAULT_DEADLINE_MS = 90_000;

export interface GlobalOptions {
  controller?: string;
  config?: string;
  caFile?: string;
  insecure?: boolean;
}

export interface Settings extends Target {
  token?: string;
  /** PEM of the CA to trust instead of the system's roots (the controller's own CA). */
  caFile?: string;
  /** Plain text, for a controller started with --insecure-dev. */
  insecure: boolean;
}

const configSchema = z
  .object({
    controller: z.string().min(1).optional(),
    token: z.string().min(1).optional(),
    caFile: z.string().min(1).optional(),
    insecure: z.boolean().optional(),
  })
  .strict();
const CONFIG_KEYS = Object.keys(configSchema.shape).join(', ');

export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'steward', 'cli.yaml');
}

function readConfigFile(path: string, explicit: boolean): z.infer<typeof configSchema> {
  if (!existsSync(path)) {
    // A missing default file is normal; a missing file the user named is a typo worth reporting.
    if (explicit) throw new UsageError(`config file ${path} does not exist`);
    return {};
  }
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`config file ${path}: ${(err as Error).message.split('\n')[0]}`);
  }
  const parsed = configSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const keys = issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : issue.path.join('.');
    const what = issue.code === 'unrecognized_keys' ? `unknown key ${keys} (known: ${CONFIG_KEYS})` : `${keys || 'file'}: ${issue.message}`;
    throw new UsageError(`config file ${path}: ${what}`);
  }
  if (parsed.data.token && (statSync(path).mode & 0o077) !== 0) {
    process.stderr.write(`stewardctl: warning: ${path} holds a token but is readable by others (chmod 600 it)\n`);
  }
  return parsed.data;
}

const ADDRESS = /^(?:[^\s/:]+|\[[0-9a-fA-F:.]+\]):\d{1,5}$|^(?:dns|unix|ipv4|ipv6):\S+$/;

export function resolveSettings(opts: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Settings {
  const explicitConfig = opts.config ?? env.STEWARD_CONFIG;
  const configPath = explicitConfig || defaultConfigPath(env);
  const file = readConfigFile(configPath, !!explicitConfig);
  const [address, source] = opts.controller
    ? [opts.controller, '--controller']
    : env.STEWARD_CONTROLLER
      ? [env.STEWARD_CONTROLLER, 'STEWARD_CONTROLLER']
      : file.controller
        ? [file.controller, `"controller" in ${configPath}`]
        : [DEFAULT_CONTROLLER, 'the default'];
  if (!ADDRESS.test(address)) throw new UsageError(`controller address "${address}" (from ${source}) is not host:port`);
  const token = env.STEWARD_TOKEN || file.token;
  const caFile = opts.caFile || env.STEWARD_CA_FILE || file.caFile;
  const insecure = !!opts.insecure || isTrue(env.STEWARD_INSECURE) || file.insecure === true;
  if (insecure && caFile) throw new UsageError('--insecure (plain text) and a CA file (TLS) contradict each other: drop one');
  if (caFile && !existsSync(caFile)) throw new UsageError(`CA file ${caFile} does not exist`);
  return { address, source, token, configPath, caFile, insecure };
}

const isTrue = (v: string | undefined) => !!v && /^(1|true|yes|on)$/i.test(v);

function channelCredentials(s: Settings): ChannelCredentials {
  if (s.insecure) return credentials.createInsecure();
  let ca: Buffer | null = null;
  if (s.caFile) {
    try {
      ca = readFileSync(s.caFile);
    } catch (err) {
      throw new UsageError(`cannot read CA file ${s.caFile}: ${(err as Error).message}`);
    }
  }
  return credentials.createSsl(ca);
}

type Callback<Res> = (err: ServiceError | null, res: Res) => void;
type Unary<Req, Res> = (req: Req, md: Metadata, options: Partial<CallOptions>, cb: Callback<Res>) => ClientUnaryCall;

export class Api {
  private readonly instances: InstancesClient;
  private readonly databases: DatabasesClient;
  private readonly users: UsersClient;
  private readonly root: RootClient;
  private readonly operations: OperationsClient;
  private readonly clusters: ClustersClient;
  private readonly backups: BackupsClient;
  private readonly replicaSets: ReplicaSetsClient;
  private readonly configurations: ConfigurationsClient;
  private readonly logs: LogsClient;
  private readonly metadata = new Metadata();

  constructor(readonly settings: Settings) {
    const creds = channelCredentials(settings);
    this.instances = new InstancesClient(settings.address, creds);
    // One channel for all services: later clients share the first one's connection.
    const channelOverride = this.instances.getChannel();
    this.databases = new DatabasesClient(settings.address, creds, { channelOverride });
    this.users = new UsersClient(settings.address, creds, { channelOverride });
    this.root = new RootClient(settings.address, creds, { channelOverride });
    this.operations = new OperationsClient(settings.address, creds, { channelOverride });
    this.clusters = new ClustersClient(settings.address, creds, { channelOverride });
    this.backups = new BackupsClient(settings.address, creds, { channelOverride });
    this.replicaSets = new ReplicaSetsClient(settings.address, creds, { channelOverride });
    this.configurations = new ConfigurationsClient(settings.address, creds, { channelOverride });
    this.logs = new LogsClient(settings.address, creds, { channelOverride });
    // Never over plain text: anyone on the path could replay it against a real controller.
    if (settings.token && !settings.insecure) this.metadata.set('authorization', `Bearer ${settings.token}`);
  }

  close(): void {
    this.instances.close();
  }

  private rpc<Req, Res>(client: Client, method: Unary<Req, Res>, req: Req, timeoutMs = DEFAULT_DEADLINE_MS): Promise<Res> {
    return new Promise((resolve, reject) => {
      method.call(client, req, this.metadata.clone(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (!err) return resolve(res);
        if (!isServiceError(err)) return reject(err);
        const connected = client.getChannel().getConnectivityState(false) === connectivityState.READY;
        reject(fromServiceError(err, this.settings, connected));
      });
    });
  }

  createInstance(req: {
    name: string;
    datastore: string;
    datastoreVersion?: string;
    memoryMb?: number;
    databases: NewDatabase[];
    users: NewUser[];
    backupId?: string;
    replicaOf?: string;
    replicaCount?: number;
    synchronous?: boolean;
    failover?: FailoverMode;
    maxLag?: number;
    configurationId?: string;
    volumeSizeMb?: number;
  }): Promise<CreateInstanceResponse> {
    return this.rpc(this.instances, this.instances.create, CreateInstanceRequest.fromPartial(req));
  }
  getInstance(id: string): Promise<Instance> {
    return this.rpc(this.instances, this.instances.get, { id });
  }
  async listInstances(): Promise<Instance[]> {
    return (await this.rpc(this.instances, this.instances.list, {})).instances;
  }
  deleteInstance(id: string, detachReplicas = false): Promise<DeleteInstanceResponse> {
    return this.rpc(this.instances, this.instances.delete, { id, detachReplicas });
  }
  getReplicaSet(id: string): Promise<ReplicaSet> {
    return this.rpc(this.replicaSets, this.replicaSets.get, { id });
  }
  updateReplicaSet(req: Partial<UpdateReplicaSetRequest> & { id: string }): Promise<ReplicaSet> {
    return this.rpc(this.replicaSets, this.replicaSets.update, UpdateReplicaSetRequest.fromPartial(req));
  }
  promoteReplica(instanceId: string): Promise<ReplicaSet> {
    return this.rpc(this.replicaSets, this.replicaSets.promote, { instanceId });
  }
  failover(id: string, force: boolean): Promise<ReplicaSet> {
    return this.rpc(this.replicaSets, this.replicaSets.failover, { id, force });
  }
  detachReplica(instanceId: string): Promise<ReplicaSet> {
    return this.rpc(this.replicaSets, this.replicaSets.detach, { instanceId });
  }
  createConfiguration(req: Partial<CreateConfigurationRequest> & { name: string; datastore: string }): Promise<ConfigurationGroup> {
    return this.rpc(this.configurations, this.configurations.create, CreateConfigurationRequest.fromPartial(req));
  }
  getConfiguration(id: string): Promise<ConfigurationGroup> {
    return this.rpc(this.configurations, this.configurations.get, { id });
  }
  async listConfigurations(): Promise<ConfigurationGroup[]> {
    return (await this.rpc(this.configurations, this.configurations.list, {})).groups;
  }
  updateConfiguration(req: Partial<UpdateConfigurationRequest> & { id: string }): Promise<UpdateConfigurationResponse> {
    return this.rpc(this.configurations, this.configurations.update, UpdateConfigurationRequest.fromPartial(req));
  }
  deleteConfiguration(id: string): Promise<ConfigurationGroup> {
    return this.rpc(this.configurations, this.configurations.delete, { id });
  }
  attachConfiguration(instanceId: string, configurationId: string): Promise<Operation> {
    return this.rpc(this.configurations, this.configurations.attach, { instanceId, configurationId });
  }
  detachConfiguration(instanceId: string): Promise<Operation> {
    return this.rpc(this.configurations, this.configurations.detach, { id: instanceId });
  }
  configurationDefaults(datastore: string, memoryMb = 0): Promise<ConfigurationDefaultsResponse> {
    return this.rpc(this.configurations, this.configurations.defaults, { datastore, memoryMb });
  }
  async listLogs(instanceId: string): Promise<GuestLog[]> {
    return (await this.rpc(this.logs, this.logs.list, { id: instanceId })).logs;
  }
  enableLog(instanceId: string, name: string, thresholdMs = 0): Promise<Operation> {
    return this.rpc(this.logs, this.logs.enable, LogApiRequest.fromPartial({ instanceId, name, thresholdMs }));
  }
  disableLog(instanceId: string, name: string): Promise<Operation> {
    return this.rpc(this.logs, this.logs.disable, LogApiRequest.fromPartial({ instanceId, name }));
  }
  showLog(instanceId: string, name: string, lines = 0): Promise<GuestLogTail> {
    return this.rpc(this.logs, this.logs.show, LogApiRequest.fromPartial({ instanceId, name, lines }));
  }
  publishLog(instanceId: string, name: string): Promise<PublishLogResponse> {
    return this.rpc(this.logs, this.logs.publish, LogApiRequest.fromPartial({ instanceId, name }));
  }
  async listPublishedLogs(instanceId: string, name = ''): Promise<PublishedLog[]> {
    return (await this.rpc(this.logs, this.logs.listPublished, { instanceId, name })).logs;
  }
  discardLog(id: string): Promise<PublishedLog> {
    return this.rpc(this.logs, this.logs.discard, { id });
  }
  newEnrollmentToken(id: string): Promise<EnrollmentTokenResponse> {
    return this.rpc(this.instances, this.instances.newEnrollmentToken, { id });
  }
  renameInstance(id: string, name: string): Promise<Instance> {
    return this.rpc(this.instances, this.instances.rename, { id, name });
  }
  resizeVolume(id: string, volumeSizeMb: number): Promise<Operation> {
    return this.rpc(this.instances, this.instances.resizeVolume, { id, volumeSizeMb });
  }
  resizeInstance(id: string, memoryMb: number): Promise<Operation> {
    return this.rpc(this.instances, this.instances.resize, { id, memoryMb });
  }
  restartInstance(id: string): Promise<Operation> {
    return this.rpc(this.instances, this.instances.restart, { id });
  }

  createDatabases(instanceId: string, databases: NewDatabase[]): Promise<Operation> {
    return this.rpc(this.databases, this.databases.create, CreateDatabasesApiRequest.fromPartial({ instanceId, databases }));
  }
  /** Every database, following the pages. */
  async listDatabases(instanceId: string): Promise<Database[]> {
    const all: Database[] = [];
    let marker = '';
    do {
      const page = await this.rpc(this.databases, this.databases.list, ListDatabasesApiRequest.fromPartial({ instanceId, page: { limit: 1000, marker } }));
      all.push(...page.databases);
      marker = page.nextMarker && page.nextMarker !== marker ? page.nextMarker : '';
    } while (marker);
    return all;
  }
  deleteDatabase(instanceId: string, name: string, terminateConnections = false): Promise<Operation> {
    return this.rpc(this.databases, this.databases.delete, DeleteDatabaseApiRequest.fromPartial({ instanceId, name, terminateConnections }));
  }

  createUsers(instanceId: string, users: NewUser[]): Promise<Operation> {
    return this.rpc(this.users, this.users.create, CreateUsersApiRequest.fromPartial({ instanceId, users }));
  }
  /** Every user, following the pages. */
  async listUsers(instanceId: string): Promise<User[]> {
    const all: User[] = [];
    let marker = '';
    do {
      const page = await this.rpc(this.users, this.users.list, ListUsersApiRequest.fromPartial({ instanceId, page: { limit: 1000, marker } }));
      all.push(...page.users);
      marker = page.nextMarker && page.nextMarker !== marker ? page.nextMarker : '';
    } while (marker);
    return all;
  }
  getUser(instanceId: string, user: UserRef): Promise<User> {
    return this.rpc(this.users, this.users.get, UserApiRequest.fromPartial({ instanceId, user }));
  }
  deleteUser(instanceId: string, user: UserRef): Promise<Operation> {
    return this.rpc(this.users, this.users.delete, UserApiRequest.fromPartial({ instanceId, user }));
  }
  changePassword(instanceId: string, user: UserRef, password: string): Promise<Operation> {
    return this.rpc(this.users, this.users.changePassword, ChangePasswordApiRequest.fromPartial({ instanceId, user, password }));
  }
  grant(instanceId: string, user: UserRef, databases: string[]): Promise<Operation> {
    return this.rpc(this.users, this.users.grant, AccessApiRequest.fromPartial({ instanceId, user, databases }));
  }
  revoke(instanceId: string, user: UserRef, databases: string[]): Promise<Operation> {
    return this.rpc(this.users, this.users.revoke, AccessApiRequest.fromPartial({ instanceId, user, databases }));
  }

  enableRoot(id: string): Promise<RootResult> {
    return this.rpc(this.root, this.root.enable, { id });
  }
  disableRoot(id: string): Promise<Operation> {
    return this.rpc(this.root, this.root.disable, { id });
  }
  rootStatus(id: string): Promise<RootResult> {
    return this.rpc(this.root, this.root.status, { id });
  }

  getOperation(id: string): Promise<Operation> {
    return this.rpc(this.operations, this.operations.get, { id });
  }
  /** The operation once finished or after `timeoutMs`, whichever comes first. */
  waitOperation(id: string, timeoutMs: number): Promise<Operation> {
    return this.rpc(this.operations, this.operations.wait, { id, timeoutMs }, timeoutMs + 30_000);
  }
  async listOperations(instanceId: string): Promise<Operation[]> {
    return (await this.rpc(this.operations, this.operations.list, { instanceId })).operations;
  }
  cancelOperation(id: string): Promise<Operation> {
    return this.rpc(this.operations, this.operations.cancel, { id });
  }

  createCluster(name: string, datastore: string, members: Partial<MemberSpec>[]): Promise<Cluster> {
    return this.rpc(this.clusters, this.clusters.create, CreateClusterRequest.fromPartial({ name, datastore, members }));
  }
  getCluster(id: string): Promise<Cluster> {
    return this.rpc(this.clusters, this.clusters.get, { id });
  }
  async listClusters(): Promise<Cluster[]> {
    return (await this.rpc(this.clusters, this.clusters.list, {})).clusters;
  }
  growCluster(id: string, members: Partial<MemberSpec>[]): Promise<Cluster> {
    return this.rpc(this.clusters, this.clusters.grow, GrowClusterRequest.fromPartial({ id, members }));
  }
  shrinkCluster(id: string, instanceIds: string[]): Promise<Cluster> {
    return this.rpc(this.clusters, this.clusters.shrink, { id, instanceIds });
  }
  deleteCluster(id: string): Promise<Cluster> {
    return this.rpc(this.clusters, this.clusters.delete, { id });
  }
  clusterRing(id: string): Promise<RingView> {
    return this.rpc(this.clusters, this.clusters.ring, { id });
  }

  createBackup(req: Partial<CreateBackupApiRequest> & { instanceId: string; name: string }): Promise<Backup> {
    return this.rpc(this.backups, this.backups.create, CreateBackupApiRequest.fromPartial(req));
  }
  getBackup(id: string): Promise<Backup> {
    return this.rpc(this.backups, this.backups.get, { id });
  }
  async listBackups(instanceId = ''): Promise<Backup[]> {
    return (await this.rpc(this.backups, this.backups.list, { instanceId })).backups;
  }
  async deleteBackup(id: string, chain: boolean): Promise<string[]> {
    return (await this.rpc(this.backups, this.backups.delete, { id, chain })).deletedIds;
  }
}
