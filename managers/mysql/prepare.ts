// prepare: from an empty instance directory to a secured, running server with
// the requested databases and users. Nothing before the final marker counts:
// a retry after any failure stops whatever the last attempt started, wipes the
// data directory and starts over (there is no user data before the marker).
import type { ManagerContext, OperationScope } from '../sdk/contract.js';
import { issueServerCertificate } from '../sdk/tls.js';
import { writeFileAtomic } from '../sdk/config-file.js';
import { handOverFile, prepareInstanceDirs } from '../sdk/data-dir.js';
import { isRoot, lookupOsUser } from '../sdk/os-user.js';
import { markPrepared, stopIfFailed } from '../sdk/prepared.js';
import { subScope } from '../sdk/backup/progress.js';
import type { PrepareRequest } from '../sdk/types.js';
import { renderMyCnf } from './config.js';
import { withSession, type SessionOptions } from './connection.js';
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
}

export async function prepare(deps: PrepareDeps, req: PrepareRequest, op: OperationScope): Promise<void> {
  const { ctx, paths, flavour } = deps;
  const { signal } = op;
  const spec = serviceSpec(flavour, paths);
  const owner = isRoot() ? await lookupOsUser(OS_USER, ctx.runner) : undefined;

  op.progress(5, 'preparing directories');
  await ctx.service.stop(spec, signal); // whatever a failed attempt left running
  await prepareInstanceDirs(ctx, owner, 0o750);
  await handOverFile(paths.errorLog, owner);

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
  };
  const tls = await issueServerCertificate(ctx, owner);
  await writeFileAtomic(paths.configFile, renderMyCnf({ ...settings, tls }), { mode: 0o644 });

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
        await secureInstallation(s);
        await createAdmin(s, adminPassword);
        await lockLocalRoot(s, flavour);
      },
      signal,
    );
    const admin: SessionOptions = { socket: paths.socket, user: ADMIN_USER, password: adminPassword };
    await waitUntilReady(admin, ready, signal, 10_000);

    op.progress(80, 'creating databases');
    await withSession(admin, (s) => createDatabases(s, req.databases ?? []), signal);
    op.progress(90, 'creating users');
    await withSession(admin, (s) => createUsers(s, req.users ?? []), signal);

    await markPrepared(paths.preparedMarker, { flavour: flavour.name });
  });
  op.progress(100, 'prepared');
}
