// Before any test file: the build the local provisioner starts agents from
// (dist/, scripts/build.mjs), made fresh so that tests never run an agent
// older than the sources they test. Safe while other runs use dist/ (the
// build replaces files atomically).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  execFileSync(process.execPath, [fileURLToPath(new URL('../scripts/build.mjs', import.meta.url))], { stdio: 'inherit' });
}
