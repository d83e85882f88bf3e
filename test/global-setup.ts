// Before any test file: the build the local provisioner starts agents from
// (dist/, scripts/build.mjs), made fresh so that tests never run an agent
// older than the sources they test. Safe while other runs use dist/ (the
// build replaces files atomically).
// After the last one: the container engine (scripts/containers.sh), started
// by set-up or by a Testcontainers fixture, is stopped with every container in
// it, unless another test run still uses it.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): () => void {
  execFileSync(process.execPath, [fileURLToPath(new URL('../scripts/build.mjs', import.meta.url))], { stdio: 'inherit' });
  return teardown;
}

function teardown(): void {
  try {
    // The fixtures registered this process (their parent) as a user of the engine.
    execFileSync('bash', [fileURLToPath(new URL('../scripts/containers.sh', import.meta.url)), 'stop', '--for', String(process.pid)], {
      stdio: 'inherit',
      timeout: 120_000,
    });
  } catch (err) {
    console.warn(`*** the container engine may still be running: ${(err as Error).message} ***`);
  }
}
