// Regenerates proto/gen from proto/steward/v1/*.proto with buf + ts-proto.
// proto/gen is never edited by hand and never committed: every install runs this.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const protoDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'proto');
rmSync(join(protoDir, 'gen'), { recursive: true, force: true });
const buf = join(protoDir, '..', 'node_modules', '.bin', 'buf');
execFileSync(buf, ['generate'], { cwd: protoDir, stdio: 'inherit' });
