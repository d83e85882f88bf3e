// prepare: from an empty instance directory to a secured, running server with
// the requested databases and users. Nothing before the final marker counts:
// a retry after any failure stops whatever the last attempt started, wipes the
// data directory and starts over (there is no user data before the marker).
import { handOverLogFiles } from './logs.js';
import type { ManagerContext, OperationScope } from '../sdk/contract.js';
import { issueServerCertificate } from '../sdk/tls.js';
import { prepareInstanceDirs } from '../sdk/data-dir.js';
import { isRoot, lookupOsUser } from '../sdk/os-user.js';
import { markPrepared, stopIfFailed } from '../sdk/prepared.js';
import { subScope } from '../sdk/backup/progress.js';
import type { PrepareRequest } from '../sdk/types.js';
import { exec, withSession, type SessionOptions } from './connection.js';
import { failedPrecondition } from '../sdk/errors.js';
import type { ReplicationStateFile } from '../sdk/replication-state.js';
import { followSource } from './replication.js';
import { serverIdOf, writeConfig } from './replication-config.js';
import { createDatabases } from './databases.js';
import { restoreChain } from './restore.js';
import type { Flavour } from './flavour.js';
import { ADMIN_SECRET, OS_USER, serviceSpec, type MysqlPaths } from './paths.js';
import { waitUntilReady } from './readiness.js';
import { createAdmin, lockLocalRoot, secureInstallation } from './secure.js';
import { createUsers } from './users.js';
import { ADMIN_USER } from './validation.js';

export interface PrepareDeps {
  ctx: ManagerContext;
  paths: MysqlPaths;
  flavour: Flavour;
  replication: ReplicationStateFile;
}

export async function prepare(deps: PrepareDeps, req: PrepareRequest, op: OperationScope): Promise<void> {
  const { ctx, paths, flavour, replication } = deps;
  if (req.replicaOf && !req.restore) throw failedPrecondition('a MariaDB replica starts from a backup of its source: restore is required');
  if (req.replicaOf && flavour.name !== 'mariadb') throw failedPrecondition('replication of MySQL 8 is not supported by this agent yet (MariaDB only)');
  const { signal } = op;
  const spec = serviceSpec(flavour, paths);
  const owner = isRoot() ? await lookupOsUser(OS_USER, ctx.runner) : undefined;

  op.progress(5, 'preparing directories');
  await ctx.service.stop(spec, signal); // whatever a failed attempt left running
  await prepareInstanceDirs(ctx, owner, 0o750);
  await handOverLogFiles(paths, owner);

  op.progress(15, 'rendering configuration');
  const settings = {
    flavour: flavour.name,
    dataDir: ctx.dataDir,
    port: req.port || ctx.port,
    bindAddress: req.bindAddress || ctx.bindAddress,
    socket: paths.socket,
    pidFile: paths.serverPidFile,
    errorLog: paths.errorLog,
    memoryMb: req.memoryMb || ctx.memoryMb,
    serverId: serverIdOf(ctx.instanceId),
  };
  const tls = await issueServerCertificate(ctx, owner);
  // A new replica starts read-only: it must never take a write of its own before it follows its source.
  const state = await replication.update(req.replicaOf ? { role: 'replica', synchronous: req.replicaOf.synchronous, fenced: false } : { role: 'standalone' });
  await writeConfig(paths, { ...settings, tls }, state);

  if (req.restore) {
    // The restored system tables bring the source's accounts; securing below re-creates ours.
    await restoreChain({ ctx, paths }, req.restore, subScope(op, 20, 45));
  } else {
    op.progress(25, `initialising data directory (${flavour.name})`);
    const init = flavour.initCommand(paths.configFile, owner?.name);
    await ctx.runner(init.command, init.args, { signal, timeoutMs: 10 * 60_000, cwd: '/' });
  }

  await stopIfFailed(ctx, spec, async () => {
    op.progress(45, 'starting server');
    await ctx.service.start(spec, signal);
    op.progress(55, 'waiting for the server to accept connections');
    const ready = { service: ctx.service, spec, errorLog: paths.errorLog };
    const osRoot: SessionOptions = { socket: paths.socket, user: 'root' };
    await waitUntilReady(osRoot, ready, signal);

    op.progress(65, 'securing the installation');
    const adminPassword = await ctx.secrets.getOrCreate(ADMIN_SECRET);
    await withSession(
      osRoot,
      async (s) => {
        // A replica's own accounts stay out of its binary log: a local transaction would diverge it from its source.
        if (req.replicaOf) await exec(s, 'SET SESSION sql_log_bin = 0');
        await secureInstallation(s);
        await createAdmin(s, adminPassword);
        await lockLocalRoot(s, flavour);
      },
      signal,
    );
    const admin: SessionOptions = { socket: paths.socket, user: ADMIN_USER, password: adminPassword };
    await waitUntilReady(admin, ready, signal, 10_000);

    if (req.replicaOf) {
      const from = req.restore!.chain.at(-1)!.artifact!;
      const gtid = from.facts.gtid;
      if (gtid === undefined) throw failedPrecondition(`backup ${from.backupId} records no GTID position: a replica cannot start from it`);
      op.progress(85, `following ${req.replicaOf.sourceHost}:${req.replicaOf.sourcePort} from ${gtid || 'the beginning'}`);
      await withSession(
        admin,
        async (s) => {
          await exec(s, 'SET GLOBAL gtid_slave_pos = ?', [gtid]);
          await followSource(s, req.replicaOf!);
        },
        signal,
      );
      await replication.update({ source: { host: req.replicaOf.sourceHost, port: req.replicaOf.sourcePort, name: req.replicaOf.name } });
    } else {
      op.progress(80, 'creating databases');
      await withSession(admin, (s) => createDatabases(s, req.databases ?? []), signal);
      op.progress(90, 'creating users');
      await withSession(admin, (s) => createUsers(s, req.users ?? []), signal);
    }

    await markPrepared(paths.preparedMarker, { flavour: flavour.name });
  });
  op.progress(100, 'prepared');
}
