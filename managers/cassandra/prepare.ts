// prepare: from an empty instance directory to a running node, secured unless
// it is a cluster member told to leave that to another member, with the
// requested keyspaces and roles, or with the keyspaces of a backup (a lone
// node only; see restore.ts). Nothing before the final marker counts: a
// retry after any failure stops whatever the last attempt started, wipes the
// data directory and starts over (there is no user data before the marker).
import { access, mkdir, rm } from 'node:fs/promises';
import type { ManagerContext, OperationScope } from '../sdk/contract.js';
import { writeFileAtomic } from '../sdk/config-file.js';
import { failedPrecondition } from '../sdk/errors.js';
import { isRoot, lookupOsUser, type OsUser } from '../sdk/os-user.js';
import { withFetchedChain, type FetchedBackup } from '../sdk/backup/fetch-chain.js';
import { subScope } from '../sdk/backup/progress.js';
import type { PrepareRequest } from '../sdk/types.js';
import { DEFAULT_DATA_CENTER, DEFAULT_RACK, writeConfig, type NodeSettings } from './config.js';
import type { Endpoint, Session } from './connection.js';
import { DEFAULT_CREDENTIALS, type AdminAccess } from './credentials.js';
import { DEFAULT_JMX_PORT, type CassandraOptions, type Installation } from './install.js';
import { serviceSpec } from './jvm.js';
import { createKeyspaces } from './keyspaces.js';
import { nodetool } from './nodetool.js';
import { parameterYaml } from './parameters.js';
import { OS_USER, type CassandraPaths } from './paths.js';
import { BOOTSTRAP_READY_TIMEOUT_MS, waitForCql } from './readiness.js';
import { checkRestoreChain, loadBackup, unpackBackup } from './restore.js';
import { secureNode } from './secure.js';
import { createRoles } from './users.js';
import { checkSeeds } from './validation.js';
import { emptyDir, ownedBy } from '../sdk/data-dir.js';

export interface PrepareDeps {
  ctx: ManagerContext;
  paths: CassandraPaths;
  options: CassandraOptions;
  inst: Installation;
  access: AdminAccess;
  /** Settings of an earlier attempt, if any: its server must be stopped first. */
  previous?: NodeSettings;
  /** The configuration group's values (checked, canonical, already recorded): the first start runs with them. */
  configuration: Record<string, string>;
}

async function ownedDir(path: string, owner: OsUser | undefined, mode: number): Promise<void> {
  await mkdir(path, { recursive: true });
  await ownedBy(path, owner, mode);
}

async function prepareDirectories({ ctx, paths }: PrepareDeps, owner: OsUser | undefined): Promise<void> {
  for (const dir of [ctx.dataDir, ctx.configDir, ctx.runDir, ctx.logDir, paths.confDir]) await mkdir(dir, { recursive: true });
  await emptyDir(ctx.dataDir);
  await ownedDir(ctx.dataDir, owner, 0o750);
  for (const dir of [paths.dataFiles, paths.commitlog, paths.hints, paths.savedCaches, paths.cdcRaw]) await ownedDir(dir, owner, 0o750);
  // The log directory may be the agent's: the server gets a directory of its own inside it.
  await ownedDir(paths.serverLogDir, owner, 0o750);
  await mkdir(paths.toolHome, { recursive: true, mode: 0o700 });
  for (const marker of [paths.decommissionedMarker, paths.securedMarker]) await rm(marker, { force: true });
}

/**
 * JMX (for nodetool) listens on 127.0.0.1 whatever the node's address, so
 * several nodes on one host, each on its own loopback address as the local
 * provisioner places them, need distinct JMX ports: derived from the address
 * unless one was configured. Saved with the node's settings, so it never moves.
 */
export function jmxPortFor(address: string, configured: number): number {
  const m = /^127\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  if (configured !== DEFAULT_JMX_PORT || !m || address === '127.0.0.1') return configured;
  return 20_000 + ((Number(m[2]) * 256 + Number(m[3])) % 20_000);
}

function nodeSettings({ ctx, options }: PrepareDeps, req: PrepareRequest): NodeSettings {
  const c = req.cluster;
  const address = req.bindAddress || ctx.bindAddress;
  return {
    clusterName: c?.clusterName || `steward-${ctx.instanceId}`.slice(0, 64),
    // A lone node is its own seed; a member gets the seeds the orchestration chose.
    seeds: c?.seeds?.length ? [...c.seeds] : [address],
    dataCenter: c?.dataCenter || DEFAULT_DATA_CENTER,
    rack: c?.rack || DEFAULT_RACK,
    autoBootstrap: c ? c.autoBootstrap : false,
    address,
    nativePort: req.port || ctx.port,
    storagePort: options.storagePort,
    jmxPort: jmxPortFor(address, options.jmxPort),
    memoryMb: req.memoryMb || ctx.memoryMb,
  };
}

export async function prepare(deps: PrepareDeps, req: PrepareRequest, op: OperationScope): Promise<void> {
  if (!req.restore) return prepareNode(deps, req, op);
  checkRestoreChain(req.restore);
  // The backup is fetched and verified before anything else: a corrupt one stops prepare with the instance untouched.
  try {
    await withFetchedChain({ ctx: deps.ctx, req: req.restore, op, range: [2, 30] }, ([fetched]) => prepareNode(deps, req, subScope(op, 30, 100), fetched));
  } finally {
    await rm(deps.paths.restoreFiles, { recursive: true, force: true });
  }
}

async function prepareNode(deps: PrepareDeps, req: PrepareRequest, op: OperationScope, restore?: FetchedBackup): Promise<void> {
  const { ctx, paths, inst, access: admin } = deps;
  const { signal } = op;
  const cluster = req.cluster;
  const owner = isRoot() ? await lookupOsUser(OS_USER, ctx.runner) : undefined;

  op.progress(5, 'preparing directories');
  if (deps.previous) {
    // Whatever a failed attempt left running.
    await ctx.service.stop(serviceSpec({ inst, paths, settings: deps.previous, extraJvmOptions: deps.options.extraJvmOptions }), signal);
  }
  await prepareDirectories(deps, owner);
  // Unpacked before the server starts: data that does not decrypt stops prepare before there is a node.
  const unpacked = restore && (await unpackBackup(ctx, restore, paths.restoreFiles, owner, subScope(op, 5, 10)));

  op.progress(10, 'rendering configuration');
  const settings = nodeSettings(deps, req);
  checkSeeds(settings.seeds, 'cluster.seeds');
  await writeConfig(paths, settings, parameterYaml(settings.memoryMb, deps.configuration));
  const spec = serviceSpec({ inst, paths, settings, extraJvmOptions: deps.options.extraJvmOptions });
  const endpoint: Endpoint = { address: settings.address, port: settings.nativePort };
  const ready = { service: ctx.service, spec, logs: [paths.consoleLog, paths.systemLog] };

  // A lone node secures itself; a member does when told to, else stores the ring's credentials.
  const securesItself = !cluster || cluster.secureCluster;
  if (cluster?.adminUser) await admin.store({ user: cluster.adminUser, password: cluster.adminPassword }, 'cluster');

  try {
    op.progress(20, settings.autoBootstrap ? 'starting the server (it streams its share of the ring first)' : 'starting the server');
    await ctx.service.start(spec, signal);
    op.progress(40, 'waiting for CQL');
    if (securesItself) {
      // The default superuser appears shortly after the native port opens.
      await waitForCql(ready, endpoint, DEFAULT_CREDENTIALS, signal, { requireLogin: true });
      op.progress(60, 'securing the node');
      await secureNode(admin, endpoint, await admin.storedOrNew(), 1, signal);
    } else {
      const timeoutMs = settings.autoBootstrap ? BOOTSTRAP_READY_TIMEOUT_MS : undefined;
      await waitForCql(ready, endpoint, (await admin.stored()) ?? DEFAULT_CREDENTIALS, signal, { requireLogin: false, timeoutMs });
    }

    if (unpacked) {
      const tool = (args: string[], sig: AbortSignal, timeoutMs?: number) => nodetool({ runner: ctx.runner, inst, paths, settings }, args, sig, timeoutMs);
      const session = <T>(fn: (s: Session) => Promise<T>, sig: AbortSignal) => admin.session(endpoint, fn, sig);
      await loadBackup({ session, nodetool: tool, systemLog: paths.systemLog }, unpacked, subScope(op, 70, 98));
    }
    if (req.databases?.length) {
      op.progress(80, 'creating keyspaces');
      await admin.session(endpoint, (s) => createKeyspaces(s, req.databases), signal);
    }
    if (req.users?.length) {
      op.progress(90, 'creating roles');
      await admin.session(endpoint, (s) => createRoles(s, req.users, () => admin.adminName()), signal);
    }

    await writeFileAtomic(
      paths.preparedMarker,
      `${JSON.stringify({ at: new Date().toISOString(), cluster: !!cluster, restored: restore?.artifact.backupId })}\n`,
      { mode: 0o644 },
    );
  } catch (err) {
    // Not prepared means nothing to keep: stop rather than leave a half-made node being restarted.
    await ctx.service.stop(spec).catch((e: Error) => ctx.log.warn({ err: e.message }, 'stop after failed prepare failed'));
    throw err;
  }
  op.progress(100, 'prepared');
}

export const alreadyPrepared = () => failedPrecondition('Cassandra is already prepared on this instance');

export const isPreparedAt = (marker: string): Promise<boolean> =>
  access(marker).then(
    () => true,
    () => false,
  );
