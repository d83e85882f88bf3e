// Agent start to READY (what systemd waits for with Type=notify), with the
// MySQL manager loaded, against `node -e ''` on the same runtime in the same
// run: what the agent itself costs on top of starting the runtime.
//   npx tsx bench/agent-start.ts [runs]
// STEWARD_AGENT_COMMAND: the agent under test (e.g. a packaged one:
// "/usr/lib/steward-agent/node/bin/node /usr/lib/steward-agent/app/steward-agent.mjs");
// default: the build in dist/ on this Node.js. NODE_COMPILE_CACHE=DIR as the
// agent's unit sets it: starts after the first skip compiling the agent.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const RUNS = Number(process.argv[2] ?? 10);
const command = process.env.STEWARD_AGENT_COMMAND?.split(' ').filter(Boolean) ?? [
  process.execPath,
  join(import.meta.dirname, '..', 'dist', 'steward-agent.mjs'),
];
const node = command[0];

const dir = mkdtempSync(join(tmpdir(), 'agent-start-'));
const sock = join(dir, 'notify.sock');
// A unix datagram socket (Node has none): python3 prints what systemd would receive.
const listener = spawn('python3', [
  '-c',
  'import socket,sys\ns=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nwhile True:\n  print(s.recv(4096).decode().replace("\\n"," "), flush=True)',
  sock,
]);
let received = '';
let onMessage = () => {};
listener.stdout.on('data', (d) => {
  received += d;
  onMessage();
});
while (!existsSync(sock)) await new Promise((r) => setTimeout(r, 20));

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

async function toReady(i: number, linger = 0): Promise<number> {
  const config = join(dir, `agent-${i}.yaml`);
  // No controller answers at 127.0.0.1:9: the agent starts, reports READY and keeps redialling.
  writeFileSync(
    config,
    `instanceId: start-${i}\ndatastore: mysql\ncontroller:\n  address: 127.0.0.1:9\nstateDir: ${join(dir, `state-${i}`)}\nserviceControl: process\ninsecure: true\n`,
  );
  received = '';
  const t0 = performance.now();
  const child = spawn(command[0], [...command.slice(1), '--config', config], { env: { ...process.env, NOTIFY_SOCKET: sock }, stdio: 'ignore' });
  await new Promise<void>((resolve) => {
    onMessage = () => received.includes('READY=1') && resolve();
  });
  const ms = performance.now() - t0;
  // An agent lives on after READY; the warm-up one long enough to write Node's compile cache.
  await new Promise((r) => setTimeout(r, linger));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  return ms;
}

async function bareNode(): Promise<number> {
  const t0 = performance.now();
  const child = spawn(node, ['-e', ''], { stdio: 'ignore' });
  await new Promise((r) => child.once('exit', r));
  return performance.now() - t0;
}

const agent: number[] = [];
const bare: number[] = [];
await toReady(-1, 2_000); // warm the page cache for both (and the compile cache, with NODE_COMPILE_CACHE)
await bareNode();
for (let i = 0; i < RUNS; i++) {
  bare.push(await bareNode());
  agent.push(await toReady(i));
}
listener.kill();
rmSync(dir, { recursive: true, force: true });
const version = await new Promise<string>((resolve) => {
  let out = '';
  spawn(node, ['--version'])
    .stdout.on('data', (d) => (out += d))
    .on('end', () => resolve(out.trim()));
});
const p50a = percentile(agent, 50);
const p50b = percentile(bare, 50);
console.log(`runtime ${version}, ${RUNS} runs`);
console.log(`node -e ''        p50 ${p50b.toFixed(0)} ms, p95 ${percentile(bare, 95).toFixed(0)} ms`);
console.log(
  `agent to READY    p50 ${p50a.toFixed(0)} ms, p95 ${percentile(agent, 95).toFixed(0)} ms (${(p50a / p50b).toFixed(1)}x; the agent's own part ${(p50a - p50b).toFixed(0)} ms)`,
);
