// The `trove` section of the controller config: the Trove v1.0 REST facade
// (docs/trove.md). Off by default: a second public port appears only when the
// operator asks for it. When on, it listens by default where Trove's own API
// does (port 8779), on loopback like the gRPC API.
import { z } from 'zod';

export const troveConfigSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** host:port; port 0 picks a free one (tests). */
    listen: z
      .string()
      .regex(/^[^\s]+:\d+$/, 'host:port')
      .default('127.0.0.1:8779'),
    /**
     * The base URL clients reach this port by (links, and the legacy auth
     * endpoint's X-Server-Management-Url); default https://<listen address>.
     */
    publicUrl: z
      .string()
      .regex(/^https?:\/\/[^\s/]+$/, 'scheme://host:port without a path')
      .optional(),
    /** Trove's instances_page_size: the default and the largest `limit` of a list. */
    pageSize: z.number().int().min(1).max(1000).default(20),
    /** Trove's max_request_body_size (oslo.middleware sizelimit). */
    bodyLimitBytes: z
      .number()
      .int()
      .min(1024)
      .max(16 * 1024 * 1024)
      .default(114_688),
    /**
     * How long a datastore change (databases, users, root disable) is waited
     * for before answering 202, so that a refusal reaches the client as Trove's
     * error instead of being lost. Longer work answers 202 and goes on.
     */
    waitMs: z.number().int().min(0).max(600_000).default(30_000),
  })
  .strict()
  .prefault({});

export type TroveConfig = z.infer<typeof troveConfigSchema>;
