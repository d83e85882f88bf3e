// Wires the controller together: store, registry, operations, workflows, the
// agent gateway and the public API on one gRPC server with the standard health
// service and reflection. `startController` is what main.ts and the tests run.
import { Server, ServerCredentials, type Metadata } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import { loadSync } from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { AgentGatewayService } from '../proto/gen/steward/v1/agent.js';
import {
  AgentsService,
  DatabasesService,
  InstancesService,
  OperationsService,
  RootService,
  UsersService,
} from '../proto/gen/steward/v1/api.js';
import { createLogger, type Logger } from '../managers/sdk/logger.js';
import type { ControllerConfig } from './config.js';
import { openSqliteStore, type Store } from './store/open.js';
import { AgentRegistry } from './agent-registry.js';
import { OperationService } from './operations.js';
import { DatastoreCatalog } from './catalog.js';
import { BUILT_IN_MANAGERS } from '../managers/sdk/registry.js';
import { InstanceService } from './instances.js';
import { LocalProvisioner } from './provisioner/local.js';
import { agentGateway } from './gateway.js';
import type { ApiContext } from './api/context.js';
import { instancesApi } from './api/instances.js';
import { databasesApi } from './api/databases.js';
import { usersApi } from './api/users.js';
import { rootApi } from './api/root.js';
import { operationsApi } from './api/operations.js';
import { agentsApi } from './api/agents.js';

const PROTO_ROOT = fileURLToPath(new URL('../proto', import.meta.url));
const SERVICES = ['Instances', 'Databases', 'Users', 'Root', 'Operations', 'Agents', 'AgentGateway'].map((s) => `steward.v1.${s}`);

export interface RunningController {
  port: number;
  address: string;
  store: Store;
  agents: AgentRegistry;
  operations: OperationService;
  instances: InstanceService;
  provisioner: LocalProvisioner;
  log: Logger;
  /** Stops serving. Agents and their datastores keep running (as after a crash). */
  stop(): Promise<void>;
}

export async function startController(config: ControllerConfig, opts: { log?: Logger } = {}): Promise<RunningController> {
  const log = opts.log ?? createLogger('steward-controller', { level: config.logLevel });
  const store = await openSqliteStore(config.storePath ?? join(config.dataDir, 'steward.db'));
  const agents = new AgentRegistry();
  const operations = new OperationService(store, agents, log);
  const catalog = await DatastoreCatalog.load([...BUILT_IN_MANAGERS, ...config.extraManagers]);

  const server = new Server({
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
    'grpc.keepalive_time_ms': 15_000,
    'grpc.keepalive_timeout_ms': 5_000,
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(config.listen, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const host = config.listen.slice(0, config.listen.lastIndexOf(':'));
  const address = `${host}:${port}`;

  const provisioner = new LocalProvisioner(
    store,
    {
      dataDir: config.dataDir,
      controllerAddress: config.provisioner.controllerAddress ?? address,
      heartbeatIntervalMs: config.provisioner.heartbeatIntervalMs,
      restartAgents: config.provisioner.restartAgents,
      logLevel: config.logLevel,
    },
    log.child({ component: 'provisioner' }),
  );
  const instances = new InstanceService({ store, operations, agents, catalog, provisioner, missedHeartbeats: config.missedHeartbeats, log });
  const tenantOf = async (_md: Metadata) => 'default';
  const ctx: ApiContext = { store, instances, operations, agents, catalog, missedHeartbeats: config.missedHeartbeats, log, tenantOf };

  server.addService(
    AgentGatewayService,
    agentGateway({
      store,
      agents,
      operations,
      log: log.child({ component: 'gateway' }),
      identify: async (_call, hello) => {
        const inst = await store.selectFrom('instances').select('id').where('id', '=', hello.instanceId).where('deleted_at', 'is', null).executeTakeFirst();
        if (!inst) throw Object.assign(new Error(`unknown instance ${hello.instanceId}`), { code: 5 });
        return inst.id;
      },
    }),
  );
  server.addService(InstancesService, instancesApi(ctx));
  server.addService(DatabasesService, databasesApi(ctx));
  server.addService(UsersService, usersApi(ctx));
  server.addService(RootService, rootApi(ctx));
  server.addService(OperationsService, operationsApi(ctx));
  server.addService(AgentsService, agentsApi(ctx));
  const health = new HealthImplementation({ '': 'SERVING', ...Object.fromEntries(SERVICES.map((s) => [s, 'SERVING'])) });
  health.addToServer(server);
  const definitions = loadSync(['steward/v1/api.proto', 'steward/v1/agent.proto'], { includeDirs: [PROTO_ROOT] });
  new ReflectionService(definitions).addToServer(server);

  await provisioner.start();
  await instances.resume();
  const sweeper = setInterval(() => {
    void operations.sweepDeadlines().catch((err) => log.error({ err: err.message }, 'deadline sweep failed'));
    void instances.sweepLostAgents().catch((err) => log.error({ err: err.message }, 'lost-agent sweep failed'));
  }, 1_000);
  log.info({ address, dataDir: config.dataDir }, 'controller listening');

  return {
    port,
    address,
    store,
    agents,
    operations,
    instances,
    provisioner,
    log,
    async stop() {
      clearInterval(sweeper);
      provisioner.stop();
      health.setStatus('', 'NOT_SERVING');
      agents.closeAll('controller stopping');
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      server.forceShutdown();
      await store.destroy();
    },
  };
}
