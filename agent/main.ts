#!/usr/bin/env -S node --import tsx
// steward-agent: the daemon next to one datastore. See --help.
import { mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { join } from 'node:path';
import { Command as Cli } from 'commander';
import { withVolumeFacts } from './volume-facts.js';
import { loadAgentConfig, ConfigError, DEFAULT_CONFIG_PATH, type AgentConfig } from './config.js';
import { Journal } from './journal.js';
import { Executor } from './executor.js';
import { Session } from './session.js';
import { AgentIdentity } from './identity.js';
import { Prober } from './prober.js';
import { startHealthServer } from './health.js';
import { sdNotify, watchdogIntervalMs } from '../managers/sdk/sd-notify.js';
import { createLogger } from '../managers/sdk/logger.js';
import { loadAgentManager } from '../managers/sdk/registry.js';
import { FileSecretStore } from '../managers/sdk/secrets.js';
import { run } from '../managers/sdk/runner.js';
import { createServiceControl } from '../managers/sdk/service-factory.js';
import type { AgentManager, ManagerContext } from '../managers/sdk/contract.js';
import type { Logger } from '../managers/sdk/logger.js';
import { deadline } from '../managers/sdk/signals.js';
import type { CrashPolicy } from '../managers/sdk/service-control.js';
import { ReplicationRole } from '../managers/sdk/replication.js';
import { Terms, WriteLease } from './fencing.js';
import { STEWARD_VERSION } from '../managers/sdk/version.js';

export const AGENT_VERSION = STEWARD_VERSION;

export function layout(stateDir: string) {
  return {
    dataDir: join(stateDir, 'data'),
    configDir: join(stateDir, 'etc'),
    runDir: join(stateDir, 'run'),
    logDir: join(stateDir, 'log'),
    secretsDir: join(stateDir, 'secrets'),
    journal: join(stateDir, 'journal.db'),
    healthPortFile: join(stateDir, 'run', 'agent-health.port'),
  };
}

export async function runAgent(config: AgentConfig): Promise<() => Promise<void>> {
  const log = createLogger('steward-agent', { level: config.logLevel }).child({ instanceId: config.instanceId });
  const dirs = layout(config.stateDir);
  // The state dir must be traversable by the datastore's service user; secrets stay 0700.
  // chmod too: the unit's UMask=0077 narrows the mode mkdir asks for.
  for (const d of [config.stateDir, dirs.configDir, dirs.runDir, dirs.logDir]) {
    mkdirSync(d, { recursive: true, mode: 0o755 });
    chmodSync(d, 0o755);
  }
  mkdirSync(dirs.secretsDir, { recursive: true, mode: 0o700 });

  const module = await loadAgentManager(config.datastore);
  // Bound below, once the manager and the prober exist: the service backend needs the policy first.
  const crashHandler: CrashPolicy = {
    restartAllowed: () => manager.replication?.restartOnCrash() ?? true,
  };
  const identity = new AgentIdentity(config, dirs.secretsDir, log);
  const credentials = await identity.credentials();
  const ctx: ManagerContext = {
    instanceId: config.instanceId,
    stateDir: config.stateDir,
    ...dirs,
    bindAddress: config.bindAddress,
    port: config.port ?? module.defaultPort,
    memoryMb: config.memoryMb,
    service: createServiceControl(config.serviceControl, log, crashHandler, { instanceKey: config.instanceId, writablePaths: [config.stateDir] }),
    secrets: new FileSecretStore(dirs.secretsDir),
    runner: run,
    log: log.child({ datastore: module.name }),
    issueTlsCertificate: config.insecure ? undefined : (dir) => identity.issueDatastoreCertificate(dir),
  };
  const manager = module.create(ctx);
  const journal = new Journal(dirs.journal);
  chmodSync(dirs.journal, 0o600);

  // eslint-disable-next-line prefer-const
  let session: Session;
  const prober = new Prober(
    async () => withVolumeFacts(await manager.probe(), dirs.dataDir),
    Math.min(config.heartbeatIntervalMs, 5_000),
    log,
    () => session?.heartbeat(),
  );
  crashHandler.onCrash = () => void prober.tick();
  const terms = new Terms(journal);
  // Two heartbeats without a grant (at least 3 s: a busy machine stalls for a second now and then).
  const leaseMs = config.writeLeaseMs ?? Math.max(2 * config.heartbeatIntervalMs, 3_000);
  const lease = new WriteLease({
    leaseMs,
    journal,
    holdsLease: () => manager.replication?.holdsWriteLease() ?? false,
    fence: async () => {
      await manager.replication?.fence({ signal: deadline(60_000), progress: () => undefined });
      await prober.tick();
    },
    log,
  });
  const executor = new Executor({
    journal,
    manager,
    datastore: module,
    terms,
    log,
    onUpdate: () => session.flush(),
    onLeaseGranted: () => lease.renew(Date.now()),
    isReplica: () => prober.current.replication?.role === ReplicationRole.REPLICA,
  });
  session = new Session({
    address: config.controller.address,
    credentials,
    journal,
    executor: () => executor,
    hello: () => ({
      instanceId: config.instanceId,
      datastore: module.name,
      datastoreVersion: prober.current.version,
      capabilities: [...module.capabilities],
      agentVersion: AGENT_VERSION,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      knownOperations: journal.knownOperationIds(),
      writeLeaseMs: leaseMs,
      endpointHost: config.advertiseAddress ?? config.bindAddress,
      endpointPort: config.port ?? module.defaultPort,
    }),
    heartbeat: () => {
      const p = prober.current;
      const replication = p.replication && { ...p.replication, term: terms.current };
      return { status: p.status, facts: p.facts, datastoreVersion: p.version, replication };
    },
    onLeaseGrant: (sentAt) => lease.renew(sentAt),
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    log,
    onStateChange: (up) => void sdNotify({ STATUS: up ? 'connected to controller' : 'reconnecting to controller' }),
  });

  executor.recover();
  prober.start();
  session.start();
  lease.start();
  identity.scheduleRenewal((creds) => session.replaceCredentials(creds));
  // A prepared datastore is brought back under supervision: adopted if it kept
  // running while the agent was away, started if it did not.
  // A primary whose lease ran out while the agent was away starts fenced: it
  // may have been failed over meanwhile.
  void (async () => {
    if (manager.replication?.holdsWriteLease() && lease.expired()) await lease.check();
    await resumeDatastore(manager, log);
  })();
  const health = await startHealthServer(config.health.host, config.health.port, {
    connected: () => session.isConnected,
    status: () => prober.current.status,
    busy: () => executor.busy,
    counters: () => ({ ...session.stats }),
  });
  writeFileSync(dirs.healthPortFile, String(health.port));
  const watchdogMs = watchdogIntervalMs();
  const watchdog = watchdogMs ? setInterval(() => void sdNotify({ WATCHDOG: '1' }), watchdogMs) : undefined;
  await sdNotify({ READY: '1', STATUS: 'agent started' });
  // With NODE_COMPILE_CACHE (the unit sets it), the next start skips compiling
  // the bundle; written now, since an agent rarely exits cleanly. Node >= 22.
  (nodeModule as { flushCompileCache?: () => void }).flushCompileCache?.();
  log.info({ datastore: module.name, controller: config.controller.address, healthPort: health.port }, 'agent started');

  let stopping = false;
  return async () => {
    if (stopping) return;
    stopping = true;
    await sdNotify({ STOPPING: '1' });
    log.info('agent stopping');
    clearInterval(watchdog);
    lease.stop();
    identity.stop();
    prober.stop();
    await executor.drain(10_000);
    session.stop();
    health.server.close();
    await manager.close().catch(() => undefined);
    journal.close();
  };
}

async function resumeDatastore(manager: AgentManager, log: Logger): Promise<void> {
  try {
    if (!(await manager.isPrepared())) return;
    await manager.start({ signal: deadline(5 * 60_000), progress: () => undefined });
    log.info('datastore under supervision');
  } catch (err) {
    log.error({ err: (err as Error).message }, 'could not resume the datastore; the probe will report its state');
  }
}

async function main(): Promise<void> {
  const cli = new Cli('steward-agent')
    .description('The Steward agent: runs next to one datastore, dials out to the controller and does the work on the database.')
    .option('-c, --config <path>', 'agent config file (YAML)', DEFAULT_CONFIG_PATH)
    .option('--check-config', 'validate the config file and exit')
    .addHelpText(
      'after',
      `
Config keys: instanceId, datastore, controller.address (agent gateway, mutual TLS),
controller.enrollAddress, controller.caFile (the pinned controller CA), enrollment.token,
enrollment.tokenFile, stateDir, serviceControl (process|systemd), bindAddress, port,
advertiseAddress, memoryMb, writeLeaseMs,
heartbeatIntervalMs, health.host, health.port, logLevel, insecure (development only).
Environment: STEWARD_AGENT_INSTANCE_ID, STEWARD_AGENT_DATASTORE, STEWARD_AGENT_CONTROLLER,
STEWARD_AGENT_STATE_DIR, STEWARD_AGENT_LOG_LEVEL, STEWARD_AGENT_ENROLLMENT_TOKEN override the file.`,
    )
    .parse();
  const opts = cli.opts<{ config: string; checkConfig?: boolean }>();
  let config: AgentConfig;
  try {
    config = loadAgentConfig(opts.config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`steward-agent: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (opts.checkConfig) {
    process.stdout.write('config ok\n');
    return;
  }
  const stop = await runAgent(config);
  const shutdown = (sig: string) => {
    void stop().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`steward-agent: shutdown after ${sig} failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    process.stderr.write(`steward-agent: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
