// Wires the controller together: store, registry, operations, workflows, the
// agent gateway and the public API on one gRPC server with the standard health
// service and reflection. `startController` is what main.ts and the tests run.
import { Server, type ServerCredentials, type Metadata } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import { loadSync } from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { AgentGatewayService, EnrollmentService } from '../proto/gen/steward/v1/agent.js';
import { EventsService } from '../proto/gen/steward/v1/events.js';
import { AgentsService, DatabasesService, InstancesService, OperationsService, RootService, TokensService, UsersService } from '../proto/gen/steward/v1/api.js';
import { createLogger, type Logger } from '../managers/sdk/logger.js';
import type { ControllerConfig } from './config.js';
import { openSqliteStore, type Store } from './store/open.js';
import { AgentRegistry } from './agent-registry.js';
import { HeartbeatRecorder } from './heartbeats.js';
import { OperationService } from './operations.js';
import { DatastoreCatalog } from './catalog.js';
import { BUILT_IN_MANAGERS } from '../managers/sdk/registry.js';
import { InstanceService } from './instances.js';
import { LocalProvisioner } from './provisioner/local.js';
import { ExternalProvisioner } from './provisioner/external.js';
import type { Provisioner } from './provisioner/provisioner.js';
import { agentGateway } from './gateway.js';
import type { ApiContext } from './api/context.js';
import { instancesApi } from './api/instances.js';
import { databasesApi } from './api/databases.js';
import { usersApi } from './api/users.js';
import { rootApi } from './api/root.js';
import { configurationsApi } from './api/configurations.js';
import { logsApi } from './api/logs.js';
import { LogService } from './logs/service.js';
import { LogsService } from '../proto/gen/steward/v1/logs.js';
import { ConfigurationService } from './configurations/service.js';
import { ConfigurationsService } from '../proto/gen/steward/v1/configurations.js';
import { operationsApi } from './api/operations.js';
import { agentsApi } from './api/agents.js';
import { enrollmentApi, tokensApi } from './api/security.js';
import { Security } from './security.js';
import { SecretBox } from './secret-box.js';
import { CommandCodec } from './command-codec.js';
import { ClusterService } from './clusters/service.js';
import { clustersApi } from './api/clusters.js';
import { ClustersService } from '../proto/gen/steward/v1/clusters.js';
import type { Caller } from './tokens.js';
import { createNotifications, type Notifications } from './notifications/index.js';
import { BackupsService } from '../proto/gen/steward/v1/backups.js';
import { BackupService } from './backups/service.js';
import { backupsApi } from './backups/api.js';
import { BackupKeyring } from './backups/keyring.js';
import { storageOf } from './backups/config.js';
import { ALL_TENANTS } from './tenancy.js';
import { WorkflowRunner } from './workflows.js';
import { ReplicationService } from './replication/service.js';
import { FailoverDetector } from './replication/detector.js';
import { replicaSetsApi } from './api/replica-sets.js';
import { ReplicaSetsService } from '../proto/gen/steward/v1/replication.js';
import { startTroveApi } from './trove/server.js';
import { assetUrl } from '../managers/sdk/assets.js';

const PROTO_ROOT = fileURLToPath(assetUrl('proto'));
const SERVICES = [
  'Instances',
  'Databases',
  'Users',
  'Root',
  'Operations',
  'Agents',
  'Tokens',
  'Enrollment',
  'Events',
  'Clusters',
  'Backups',
  'ReplicaSets',
  'Configurations',
  'Logs',
].map((s) => `steward.v1.${s}`);

export interface RunningController {
  /** Public API + enrollment. */
  port: number;
  address: string;
  /** Agent gateway (mutual TLS). */
  agentAddress: string;
  caFile: string;
  /** The bootstrap admin token (also in <dataDir>/admin.token, 0600). */
  adminToken: string;
  store: Store;
  agents: AgentRegistry;
  operations: OperationService;
  instances: InstanceService;
  clusters: ClusterService;
  backups: BackupService;
  /** The local provisioner (tests and demos reach into it); throws for a controller that provisions externally. */
  readonly provisioner: LocalProvisioner;
  security: Security;
  notifications: Notifications;
  log: Logger;
  /** The Trove v1.0 REST API's base URL, when `trove.enabled` (docs/trove.md). */
  troveUrl?: string;
  /** Stops serving. Agents and their datastores keep running (as after a crash). */
  stop(): Promise<void>;
}

const SERVER_OPTIONS = {
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  'grpc.keepalive_time_ms': 15_000,
  'grpc.keepalive_timeout_ms': 5_000,
};

function bind(server: Server, address: string, creds: ServerCredentials): Promise<string> {
  return new Promise((resolve, reject) =>
    server.bindAsync(address, creds, (err, port) => (err ? reject(err) : resolve(`${address.slice(0, address.lastIndexOf(':'))}:${port}`))),
  );
}

export async function startController(config: ControllerConfig, opts: { log?: Logger } = {}): Promise<RunningController> {
  const log = opts.log ?? createLogger('steward-controller', { level: config.logLevel });
  const store = await openSqliteStore(config.storePath ?? join(config.dataDir, 'steward.db'));
  const security = await Security.create(
    store,
    {
      dataDir: config.dataDir,
      insecure: config.insecure,
      serverNames: config.serverNames,
      enrollmentTokenTtlMs: config.enrollmentTokenTtlMs,
      agentCertificateLifetimeMs: config.agentCertificateLifetimeMs,
    },
    log.child({ component: 'security' }),
  );
  const adminToken = await security.apiTokens.bootstrapAdmin(join(config.dataDir, 'admin.token'));
  const agents = new AgentRegistry();
  const heartbeats = new HeartbeatRecorder(store, agents, log.child({ component: 'gateway' }), { flushMs: 30_000, statsMs: config.statsIntervalMs });
  const caller = async (md: Metadata): Promise<Caller> =>
    config.insecure ? { tenantId: 'default', admin: true, scope: ALL_TENANTS } : security.apiTokens.authenticate(md);
  const notifications = createNotifications(config.notifications, { store, dataDir: config.dataDir, caller, log });
  const box = SecretBox.loadOrCreate(join(config.dataDir, 'pki', 'secrets.key'));
  const catalog = await DatastoreCatalog.load([...BUILT_IN_MANAGERS, ...config.extraManagers]);
  const operations = new OperationService(store, agents, catalog, log, notifications.notifier, new CommandCodec(box));

  const hostOf = (a: string) => a.slice(0, a.lastIndexOf(':'));
  const creds = await security.serverCredentials([hostOf(config.listen), hostOf(config.agentListen)]);
  const apiServer = new Server(SERVER_OPTIONS);
  const agentServer = new Server(SERVER_OPTIONS);
  const address = await bind(apiServer, config.listen, creds.api);
  const agentAddress = await bind(agentServer, config.agentListen, creds.agent);

  const local = () =>
    new LocalProvisioner(
      store,
      {
        dataDir: config.dataDir,
        controllerAddress: config.provisioner.controllerAddress ?? agentAddress,
        enrollAddress: config.provisioner.enrollAddress ?? address,
        caFile: security.caFile,
        insecure: config.insecure,
        heartbeatIntervalMs: config.provisioner.heartbeatIntervalMs,
        restartAgents: config.provisioner.restartAgents,
        loopbackOffset: config.provisioner.loopbackOffset,
        agentCommand: config.provisioner.agentCommand,
        logLevel: config.logLevel,
      },
      log.child({ component: 'provisioner' }),
    );
  const provisioner: Provisioner = config.provisioner.kind === 'external' ? new ExternalProvisioner(log.child({ component: 'provisioner' })) : local();
  const instances = new InstanceService({
    store,
    operations,
    agents,
    catalog,
    provisioner,
    security,
    notifier: notifications.notifier,
    missedHeartbeats: config.missedHeartbeats,
    log,
  });
  const runner = new WorkflowRunner(store, log.child({ component: 'workflows' }));
  const clusters = new ClusterService({
    store,
    instances,
    operations,
    catalog,
    box,
    notifier: notifications.notifier,
    runner,
    log,
  });
  // Published logs go where backups go, sealed with the same keyring.
  const keyring = BackupKeyring.loadOrCreate(config.backups.masterKeyFile ?? join(config.dataDir, 'pki', 'backup-master.key'));
  const storage = storageOf(config.backups, config.dataDir);
  const backups = new BackupService({
    store,
    operations,
    instances,
    catalog,
    keyring,
    storage,
    compression: config.backups.compression,
    notifier: notifications.notifier,
    log: log.child({ component: 'backups' }),
  });
  instances.setRestoreSource((scope, backupId, datastore, version) => backups.restoreCommand(scope, backupId, datastore, version));
  const replication = new ReplicationService({
    store,
    instances,
    operations,
    backups,
    catalog,
    agents,
    box,
    notifier: notifications.notifier,
    runner,
    missedHeartbeats: config.missedHeartbeats,
    settings: config.replication,
    log: log.child({ component: 'replication' }),
  });
  instances.setReplication(replication);
  const configurations = new ConfigurationService({ store, catalog, operations, instances, log: log.child({ component: 'configurations' }) });
  instances.setConfigurationSource((scope, groupId, datastore) => configurations.forNewInstance(scope, groupId, datastore));
  const logs = new LogService({
    store,
    catalog,
    operations,
    instances,
    storage,
    keyring,
    compression: config.backups.compression,
    log: log.child({ component: 'logs' }),
  });
  const detector = new FailoverDetector(replication);
  const ctx: ApiContext = {
    store,
    instances,
    operations,
    agents,
    catalog,
    security,
    missedHeartbeats: config.missedHeartbeats,
    log,
    caller,
    scopeOf: async (md) => (await caller(md)).scope,
  };

  agentServer.addService(
    AgentGatewayService,
    agentGateway({ store, agents, heartbeats, operations, security, replication: detector, log: log.child({ component: 'gateway' }) }),
  );
  apiServer.addService(EnrollmentService, enrollmentApi(security, log));
  apiServer.addService(InstancesService, instancesApi(ctx, replication));
  apiServer.addService(ReplicaSetsService, replicaSetsApi(ctx, replication));
  apiServer.addService(DatabasesService, databasesApi(ctx));
  apiServer.addService(UsersService, usersApi(ctx));
  apiServer.addService(RootService, rootApi(ctx));
  apiServer.addService(OperationsService, operationsApi(ctx));
  apiServer.addService(AgentsService, agentsApi(ctx));
  apiServer.addService(TokensService, tokensApi(ctx, security));
  apiServer.addService(ClustersService, clustersApi(ctx, clusters));
  apiServer.addService(BackupsService, backupsApi(ctx, backups));
  apiServer.addService(ConfigurationsService, configurationsApi(ctx, configurations));
  apiServer.addService(LogsService, logsApi(ctx, logs));
  if (notifications.watch) apiServer.addService(EventsService, notifications.watch.handlers());
  const served = notifications.watch ? SERVICES : SERVICES.filter((s) => s !== 'steward.v1.Events');
  const health = new HealthImplementation({ '': 'SERVING', ...Object.fromEntries(served.map((s) => [s, 'SERVING'])) });
  health.addToServer(apiServer);
  const definitions = loadSync(
    [
      'steward/v1/api.proto',
      'steward/v1/agent.proto',
      'steward/v1/events.proto',
      'steward/v1/clusters.proto',
      'steward/v1/backups.proto',
      'steward/v1/replication.proto',
      'steward/v1/configurations.proto',
      'steward/v1/logs.proto',
    ],
    { includeDirs: [PROTO_ROOT] },
  );
  new ReflectionService(definitions).addToServer(apiServer);

  await notifications.start();
  await provisioner.start();
  await instances.resume();
  await clusters.resume();
  // After every family has registered: workflows a previous controller left running carry on.
  await runner.resume();
  const trove = config.trove.enabled ? await startTroveApi(config.trove, { ctx, replication, clusters, backups, security, log }) : undefined;
  const sweeper = setInterval(() => {
    void operations.sweepDeadlines().catch((err) => log.error({ err: err.message }, 'deadline sweep failed'));
    void instances.sweepLostAgents().catch((err) => log.error({ err: err.message }, 'lost-agent sweep failed'));
    void detector.sweep().catch((err) => log.error({ err: err.message }, 'replica set sweep failed'));
  }, 1_000);
  heartbeats.start();
  log.info({ address, agentAddress, dataDir: config.dataDir, tls: !config.insecure }, 'controller listening');

  return {
    port: Number(address.slice(address.lastIndexOf(':') + 1)),
    address,
    agentAddress,
    caFile: security.caFile,
    adminToken,
    store,
    agents,
    operations,
    instances,
    clusters,
    backups,
    get provisioner(): LocalProvisioner {
      if (!(provisioner instanceof LocalProvisioner)) throw new Error('this controller provisions externally: there is no local provisioner');
      return provisioner;
    },
    security,
    notifications,
    log,
    troveUrl: trove?.url,
    async stop() {
      await trove?.close();
      clearInterval(sweeper);
      runner.stop();
      provisioner.stop();
      health.setStatus('', 'NOT_SERVING');
      agents.closeAll('controller stopping');
      await heartbeats.stop();
      // Ends Watch streams (the server's graceful shutdown waits for open calls) and lets in-flight deliveries be marked.
      await notifications.stop();
      await Promise.all([apiServer, agentServer].map((srv) => new Promise<void>((resolve) => srv.tryShutdown(() => resolve()))));
      apiServer.forceShutdown();
      agentServer.forceShutdown();
      await store.destroy();
    },
  };
}
