// Agent configuration: /etc/steward/agent.yaml, overridden by STEWARD_AGENT_*
// environment variables and then by command-line flags. Validated once at start;
// an unknown or bad key stops the agent with an error that names it.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

export const DEFAULT_CONFIG_PATH = '/etc/steward/agent.yaml';

const port = z.number().int().min(1).max(65535);

export const agentConfigSchema = z
  .object({
    instanceId: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes'),
    /** Manager name ("mysql") or the package name of an out-of-tree manager. */
    datastore: z.string().min(1),
    controller: z
      .object({
        /** The agent gateway (mutual TLS). */
        address: z.string().regex(/^[^\s:]+:\d+$/, 'host:port'),
        /** The API port, used once to enroll; defaults to `address`. */
        enrollAddress: z
          .string()
          .regex(/^[^\s:]+:\d+$/, 'host:port')
          .optional(),
        /** The controller's CA certificate: the only CA this agent trusts (pinned). */
        caFile: z.string().min(1).optional(),
      })
      .strict(),
    /** One-time enrollment token (or a file holding it), needed until the agent has a certificate. */
    enrollment: z
      .object({ token: z.string().min(1).optional(), tokenFile: z.string().min(1).optional() })
      .strict()
      .default({}),
    /** Development only: plain-text gRPC to a controller started with `insecure`. */
    insecure: z.boolean().default(false),
    stateDir: z.string().min(1),
    serviceControl: z.enum(['process', 'systemd']).default('systemd'),
    bindAddress: z.string().default('127.0.0.1'),
    port: port.optional(),
    /** Where clients reach the datastore when that is not bindAddress (0.0.0.0, NAT); reported to the controller. */
    advertiseAddress: z.string().min(1).optional(),
    memoryMb: z.number().int().min(64).max(4_194_304).default(1024),
    heartbeatIntervalMs: z.number().int().min(200).max(300_000).default(10_000),
    /**
     * A replica set's primary without a lease grant from the controller for
     * this long refuses writes by itself (docs/replication.md). Default: two
     * heartbeat intervals, at least 3 s.
     */
    writeLeaseMs: z.number().int().min(500).max(600_000).optional(),
    health: z
      .object({
        host: z.enum(['127.0.0.1', '::1', 'localhost']).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(0),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 0 }),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
  })
  .strict()
  .refine((c) => c.insecure || c.controller.caFile, { message: 'controller.caFile is required unless insecure is set', path: ['controller', 'caFile'] });

export type AgentConfig = z.infer<typeof agentConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Turns zod issues into one line per bad key, e.g. `controller.address: host:port`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const path = i.path.join('.');
      if (i.code === 'unrecognized_keys') {
        const keys = i.keys.map((k) => (path ? `${path}.${k}` : k));
        return `unknown key${keys.length > 1 ? 's' : ''} ${keys.join(', ')}`;
      }
      return `${path || '(root)'}: ${i.message}`;
    })
    .join('; ');
}

const ENV_KEYS: Record<string, (c: Record<string, unknown>, v: string) => void> = {
  STEWARD_AGENT_INSTANCE_ID: (c, v) => (c.instanceId = v),
  STEWARD_AGENT_DATASTORE: (c, v) => (c.datastore = v),
  STEWARD_AGENT_CONTROLLER: (c, v) => (c.controller = { ...(c.controller as object), address: v }),
  STEWARD_AGENT_STATE_DIR: (c, v) => (c.stateDir = v),
  STEWARD_AGENT_LOG_LEVEL: (c, v) => (c.logLevel = v),
  STEWARD_AGENT_ENROLLMENT_TOKEN: (c, v) => (c.enrollment = { ...(c.enrollment as object), token: v }),
};

export function loadAgentConfig(path: string, overrides: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8')) ?? {};
  } catch (err) {
    throw new ConfigError(`cannot read agent config ${path}: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${path}: expected a mapping at the top level`);
  const merged = { ...(raw as Record<string, unknown>) };
  for (const [key, apply] of Object.entries(ENV_KEYS)) {
    const v = env[key];
    if (v !== undefined) apply(merged, v);
  }
  Object.assign(merged, overrides);
  const parsed = agentConfigSchema.safeParse(merged);
  if (!parsed.success) throw new ConfigError(`invalid agent config ${path}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}
