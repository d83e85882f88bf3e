// Localhost-only health and metrics endpoint (for systemd, load balancers and
// Prometheus on the guest). It listens on loopback only: the config refuses
// any other host.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DatastoreStatus } from '../managers/sdk/types.js';

export interface HealthSource {
  connected(): boolean;
  status(): DatastoreStatus;
  busy(): boolean;
  counters(): Record<string, number>;
}

export async function startHealthServer(host: string, port: number, src: HealthSource): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.url === '/healthz') {
      const body = { connected: src.connected(), datastore: DatastoreStatus[src.status()], busy: src.busy() };
      res.writeHead(src.connected() ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    } else if (req.url === '/metrics') {
      const lines = [
        '# TYPE steward_agent_connected gauge',
        `steward_agent_connected ${src.connected() ? 1 : 0}`,
        '# TYPE steward_datastore_status gauge',
        `steward_datastore_status{status="${DatastoreStatus[src.status()]}"} 1`,
        ...Object.entries(src.counters()).flatMap(([k, v]) => [`# TYPE steward_agent_${k}_total counter`, `steward_agent_${k}_total ${v}`]),
        ...memoryLines(),
      ];
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(`${lines.join('\n')}\n`);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}

/** The agent's own memory, by part: what a fleet operator watches for leaks. */
function memoryLines(): string[] {
  const m = process.memoryUsage();
  const parts: Record<string, number> = {
    resident: m.rss,
    heap_total: m.heapTotal,
    heap_used: m.heapUsed,
    external: m.external,
    array_buffers: m.arrayBuffers,
  };
  return ['# TYPE steward_agent_memory_bytes gauge', ...Object.entries(parts).map(([k, v]) => `steward_agent_memory_bytes{part="${k}"} ${v}`)];
}
