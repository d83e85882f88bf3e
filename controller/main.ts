#!/usr/bin/env -S node --import tsx
// steward-controller: see --help.
import { Command } from 'commander';
import { loadControllerConfig } from './config.js';
import { startController } from './server.js';
import { sdNotify, watchdogIntervalMs } from '../managers/sdk/sd-notify.js';

async function main(): Promise<void> {
  const cli = new Command('steward-controller')
    .description('The Steward controller: public gRPC API, agent gateway, inventory and workflows.')
    .option('-c, --config <path>', 'controller config file (YAML)')
    .option('--listen <host:port>', 'public API and enrollment address, TLS (default 127.0.0.1:50051)')
    .option('--agent-listen <host:port>', 'agent gateway address, mutual TLS (default 127.0.0.1:50052)')
    .option('--insecure-dev', 'DEVELOPMENT ONLY: plain-text gRPC, no agent identity, no API authentication')
    .option('--data-dir <dir>', 'where the store and local instances live (default ./.steward)')
    .option('--heartbeat-interval-ms <ms>', 'heartbeat interval for agents started by the local provisioner', Number)
    .addHelpText(
      'after',
      `
Config keys: listen, agentListen, insecure, serverNames, enrollmentTokenTtlMs,
agentCertificateLifetimeMs, dataDir, storePath, missedHeartbeats, logLevel, statsIntervalMs, extraManagers,
provisioner.kind (local|external), provisioner.heartbeatIntervalMs, provisioner.controllerAddress,
provisioner.enrollAddress, provisioner.restartAgents, provisioner.loopbackOffset, provisioner.agentCommand,
replication.{catchUpTimeoutMs,unresponsiveMs,leaseMarginMs} (docs/replication.md), notifications.publisherId,
notifications.file.{enabled,path}, notifications.amqp.{enabled,url,exchange},
notifications.watch.enabled, notifications.dispatch.enabled, notifications.retentionHours
(docs/notifications.md), backups.compression (zstd|gzip|none), backups.masterKeyFile,
backups.storage.kind (filesystem|s3), backups.storage.path,
backups.storage.{bucket,endpoint,region,prefix,accessKeyId,secretAccessKey,forcePathStyle}
(docs/backups.md). Flags override the file.

On first start the controller creates its CA (<dataDir>/pki, 0600), an admin API token
(<dataDir>/admin.token, 0600) and the backup master key (<dataDir>/pki/backup-master.key,
0600: keep a copy away from the backup storage; without it no backup can be restored).
Give stewardctl the token (STEWARD_TOKEN) and the CA (STEWARD_CA_FILE=<dataDir>/pki/ca.pem).`,
    )
    .parse();
  const o = cli.opts<{ config?: string; listen?: string; agentListen?: string; insecureDev?: boolean; dataDir?: string; heartbeatIntervalMs?: number }>();
  const overrides: Record<string, unknown> = {};
  if (o.listen) overrides.listen = o.listen;
  if (o.agentListen) overrides.agentListen = o.agentListen;
  if (o.insecureDev) overrides.insecure = true;
  if (o.dataDir) overrides.dataDir = o.dataDir;
  const config = loadControllerConfig(o.config, overrides);
  if (o.heartbeatIntervalMs) config.provisioner.heartbeatIntervalMs = o.heartbeatIntervalMs;
  const controller = await startController(config);
  process.stdout.write(
    `steward-controller: API ${controller.address}, agents ${controller.agentAddress}, CA ${controller.caFile}, admin token in ${config.dataDir}/admin.token\n`,
  );
  // Under systemd (Type=notify): ready once both ports serve; a watchdog ping while the event loop turns.
  await sdNotify({ READY: '1', STATUS: `serving API ${controller.address}, agents ${controller.agentAddress}` });
  const watchdogMs = watchdogIntervalMs();
  const watchdog = watchdogMs ? setInterval(() => void sdNotify({ WATCHDOG: '1' }), watchdogMs) : undefined;
  const stop = () => {
    clearInterval(watchdog);
    void sdNotify({ STOPPING: '1' });
    void controller.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  process.stderr.write(`steward-controller: ${(err as Error).message}\n`);
  process.exit(1);
});
