import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAgentConfig, ConfigError } from '../../agent/config.js';
import { tempDir } from '../fixtures/controller.js';

const write = (body: string) => {
  const p = join(tempDir('agent-config-'), 'agent.yaml');
  writeFileSync(p, body);
  return p;
};
const good = 'instanceId: abc-1\ndatastore: mysql\ncontroller:\n  address: 127.0.0.1:50051\n  caFile: /etc/steward/ca.pem\nstateDir: /var/lib/steward\n';

describe('agent config', () => {
  it('loads a good file with defaults', () => {
    const c = loadAgentConfig(write(good), {}, {});
    expect(c.serviceControl).toBe('systemd');
    expect(c.heartbeatIntervalMs).toBe(10_000);
    expect(c.health.host).toBe('127.0.0.1');
  });
  it('names an unknown key', () => {
    expect(() => loadAgentConfig(write(`${good}heartbeat_interval: 5\n`), {}, {})).toThrow(/unknown key heartbeat_interval/);
    expect(() => loadAgentConfig(write(good.replace('address:', 'adress:')), {}, {})).toThrow(/controller\.adress/);
  });
  it('names a bad value', () => {
    expect(() => loadAgentConfig(write(good.replace('127.0.0.1:50051', 'nowhere')), {}, {})).toThrow(/controller\.address: host:port/);
    expect(() => loadAgentConfig(write(`${good}serviceControl: docker\n`), {}, {})).toThrow(/serviceControl/);
  });
  it('refuses a health endpoint off loopback', () => {
    expect(() => loadAgentConfig(write(`${good}health:\n  host: 0.0.0.0\n`), {}, {})).toThrow(/health\.host/);
  });
  it('lets the environment override the file', () => {
    const c = loadAgentConfig(write(good), {}, { STEWARD_AGENT_CONTROLLER: '10.0.0.1:443' });
    expect(c.controller.address).toBe('10.0.0.1:443');
  });
  it('says clearly when the file is missing or not a mapping', () => {
    expect(() => loadAgentConfig('/nonexistent/agent.yaml', {}, {})).toThrow(ConfigError);
    expect(() => loadAgentConfig(write('- a\n- b\n'), {}, {})).toThrow(/mapping/);
  });
});

describe('agent config: TLS', () => {
  it('requires the pinned controller CA unless the development flag is set', () => {
    const noCa = 'instanceId: abc-1\ndatastore: mysql\ncontroller:\n  address: 127.0.0.1:50051\nstateDir: /var/lib/steward\n';
    expect(() => loadAgentConfig(write(noCa), {}, {})).toThrow(/controller\.caFile/);
    expect(loadAgentConfig(write(`${noCa}insecure: true\n`), {}, {}).insecure).toBe(true);
  });
});
