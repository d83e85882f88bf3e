#!/usr/bin/env -S node --import tsx
// steward-controller: see --help.
import { Command } from 'commander';
import { loadControllerConfig } from './config.js';
import { startController } from './server.js';

async function main(): Promise<void> {
  const cli = new Command('steward-controller')
    .description('The Steward controller: public gRPC API, agent gateway, inventory and workflows.')
    .option('-c, --config <path>', 'controller config file (YAML)')
    .option('--listen <host:port>', 'address to serve gRPC on (default 127.0.0.1:50051)')
    .option('--data-dir <dir>', 'where the store and local instances live (default ./.steward)')
    .option('--heartbeat-interval-ms <ms>', 'heartbeat interval for agents started by the local provisioner', Number)
    .addHelpText(
      'after',
      `
Config keys: listen, dataDir, storePath, missedHeartbeats, logLevel, extraManagers,
provisioner.kind (local), provisioner.heartbeatIntervalMs, provisioner.controllerAddress,
provisioner.restartAgents. Flags override the file.`,
    )
    .parse();
  const o = cli.opts<{ config?: string; listen?: string; dataDir?: string; heartbeatIntervalMs?: number }>();
  const overrides: Record<string, unknown> = {};
  if (o.listen) overrides.listen = o.listen;
  if (o.dataDir) overrides.dataDir = o.dataDir;
  const config = loadControllerConfig(o.config, overrides);
  if (o.heartbeatIntervalMs) config.provisioner.heartbeatIntervalMs = o.heartbeatIntervalMs;
  const controller = await startController(config);
  process.stdout.write(`steward-controller listening on ${controller.address}\n`);
  const stop = () => void controller.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  process.stderr.write(`steward-controller: ${(err as Error).message}\n`);
  process.exit(1);
});
