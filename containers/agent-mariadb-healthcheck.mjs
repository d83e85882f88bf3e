// The agent image's HEALTHCHECK: the agent's /healthz (200 while it holds its
// stream to the controller) on the port its config names.
import { readFileSync } from 'node:fs';

const config = ['/etc/steward/agent.yaml', '/var/lib/steward-agent/agent.yaml'].map((f) => {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return '';
  }
});
const port = /^health:\n(?:\s+.*\n)*?\s+port:\s*(\d+)/m.exec(config.find((c) => c) ?? '')?.[1] ?? '9187';
fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(4_000) }).then(
  (r) => process.exit(r.ok ? 0 : 1),
  () => process.exit(1),
);
