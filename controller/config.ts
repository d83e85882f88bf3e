// Controller configuration (YAML file, then flags). Validated at start; a bad
// key is named in the error.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { describeIssues } from '../agent/config.js';
import { notificationsConfigSchema } from './notifications/config.js';
import { backupsConfigSchema } from './backups/config.js';
import { troveConfigSchema } from './trove/config.js';

export const controllerConfigSchema = z
  .object({
    /** Public API and agent enrollment (TLS; bearer tokens). */
    listen: z
      .string()
      .regex(/^[^\s]+:\d+$/, 'host:port')
      .default('127.0.0.1:50051'),
    /** Agent gateway (mutual TLS: agents only). */
    agentListen: z
      .string()
      .regex(/^[^\s]+:\d+$/, 'host:port')
      .default('127.0.0.1:50052'),
    /** Development only: plain-text gRPC, identity from Hello, no API authentication. Logs a warning. */
    insecure: z.boolean().default(false),
    /** Extra DNS names / IPs for the controller's server certificate. */
    serverNames: z.array(z.string().min(1)).default([]),
    enrollmentTokenTtlMs: z
      .number()
      .int()
      .min(1_000)
      .max(7 * 24 * 3600_000)
      .default(15 * 60_000),
    agentCertificateLifetimeMs: z
      .number()
      .int()
      .min(5_000)
      .max(366 * 24 * 3600_000)
      .default(24 * 3600_000),
    dataDir: z.string().default('.steward'),
    /** SQLite file; defaults to <dataDir>/steward.db. */
    storePath: z.string().optional(),
    /** An agent is "lost" after this many missed heartbeats. */
    missedHeartbeats: z.number().int().min(1).max(100).default(3),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
    /** How often a 'gateway statistics' line is logged (connected agents, heartbeats, handling time, event-loop delay); 0: never. */
    statsIntervalMs: z
      .number()
      .int()
      .min(0)
      .max(24 * 3600_000)
      .default(60_000),
    /** Out-of-tree datastore managers: package names (or absolute paths) loaded beside the built-in ones. */
    extraManagers: z.array(z.string().min(1)).default([]),
    provisioner: z
      .object({
        /** local: agents started on this machine (demos, tests); external: installed by an operator or cloud-init (steward-agent package). */
        kind: z.enum(['local', 'external']).default('local'),
        /** Heartbeat interval handed to the agents this provisioner starts. */
        heartbeatIntervalMs: z.number().int().min(200).max(300_000).default(10_000),
        /** Addresses agents dial; default to `agentListen` and `listen`. */
        controllerAddress: z.string().optional(),
        enrollAddress: z.string().optional(),
        /** Restart an agent process that exits unexpectedly (what systemd does in production). */
        restartAgents: z.boolean().default(true),
        /**
         * Instances get 127.0.0.2, 127.0.0.3, ... after skipping this many addresses. Controllers
         * sharing a host (test runs in parallel) each need their own range: an address whose
         * datastore port another controller has handed out but not yet bound looks free.
         */
        loopbackOffset: z.number().int().min(0).max(60_000).default(0),
        /** How agents are started (`--config <file>` is appended), e.g. ["/usr/bin/steward-agent"]; default: the build beside this controller. */
        agentCommand: z.array(z.string().min(1)).optional(),
      })
      .strict()
      .default({ kind: 'local', heartbeatIntervalMs: 10_000, restartAgents: true, loopbackOffset: 0 }),
    /** Usage/lifecycle events: sinks, publisher id (docs/notifications.md). */
    notifications: notificationsConfigSchema,
    /** Where and how backups are stored (docs/backups.md). */
    backups: backupsConfigSchema,
    /** Replica sets: switchover and failover timing (docs/replication.md). */
    replication: z
      .object({
        /** A switchover waits this long for the candidate to catch up, then rolls back. */
        catchUpTimeoutMs: z.number().int().min(1_000).max(3_600_000).default(30_000),
        /** A primary whose server answers nothing for this long (its agent alive) is failed over. */
        unresponsiveMs: z.number().int().min(1_000).max(600_000).default(5_000),
        /** Added to a lost primary's write lease before its failover (clock rates differ). */
        leaseMarginMs: z.number().int().min(0).max(600_000).default(1_000),
      })
      .strict()
      .default({ catchUpTimeoutMs: 30_000, unresponsiveMs: 5_000, leaseMarginMs: 1_000 }),
    /** The Trove v1.0 REST API for python-troveclient and Trove tooling (docs/trove.md); off by default. */
    trove: troveConfigSchema,
  })
  .strict();

export type ControllerConfig = z.infer<typeof controllerConfigSchema>;

export function parseControllerConfig(raw: unknown): ControllerConfig {
  const parsed = controllerConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new Error(`invalid controller config: ${describeIssues(parsed.error)}`);
  const c = parsed.data;
  return { ...c, dataDir: resolve(c.dataDir) };
}

export function loadControllerConfig(path: string | undefined, overrides: Record<string, unknown>): ControllerConfig {
  let raw: Record<string, unknown> = {};
  if (path) {
    try {
      raw = (parseYaml(readFileSync(path, 'utf8')) as Record<string, unknown>) ?? {};
    } catch (err) {
      throw new Error(`cannot read controller config ${path}: ${(err as Error).message}`);
    }
  }
  return parseControllerConfig({ ...raw, ...overrides });
}
