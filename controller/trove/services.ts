// The facade's only way into Steward: the very handler objects the gRPC API
// serves (controller/api/*.ts, backups/api.ts), called in process. Every rule
// (tenancy, input checks, task states, capabilities) is therefore the one the
// gRPC API applies; this facade only translates Trove's shapes to and from
// theirs. A request's Caller travels in a fresh Metadata that only this module
// can resolve (no token is parsed twice, and no header can forge it).
import { Metadata, type handleUnaryCall, type sendUnaryData, type ServerUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { codeOfNumber, StewardError } from '../../managers/sdk/errors.js';
import type { ApiContext } from '../api/context.js';
import { instancesApi } from '../api/instances.js';
import { databasesApi } from '../api/databases.js';
import { usersApi } from '../api/users.js';
import { rootApi } from '../api/root.js';
import { operationsApi } from '../api/operations.js';
import { clustersApi } from '../api/clusters.js';
import { replicaSetsApi } from '../api/replica-sets.js';
import { backupsApi } from '../backups/api.js';
import type { BackupService } from '../backups/service.js';
import type { ClusterService } from '../clusters/service.js';
import type { ReplicationService } from '../replication/service.js';
import type { Caller } from '../tokens.js';

export interface ServiceDeps {
  ctx: ApiContext;
  replication: ReplicationService;
  clusters: ClusterService;
  backups: BackupService;
}

export type Handlers = ReturnType<typeof handlersOf>;

function handlersOf(ctx: ApiContext, d: ServiceDeps) {
  return {
    instances: instancesApi(ctx, d.replication),
    databases: databasesApi(ctx),
    users: usersApi(ctx),
    root: rootApi(ctx),
    operations: operationsApi(ctx),
    clusters: clustersApi(ctx, d.clusters),
    replicaSets: replicaSetsApi(ctx, d.replication),
    backups: backupsApi(ctx, d.backups),
  };
}

export class Services {
  readonly h: Handlers;
  private readonly callers = new WeakMap<Metadata, Caller>();

  constructor(readonly d: ServiceDeps) {
    const callerOf = async (md: Metadata): Promise<Caller> => {
      const c = this.callers.get(md);
      if (!c) throw new StewardError('UNAUTHENTICATED', 'no caller for this request');
      return c;
    };
    const ctx: ApiContext = { ...d.ctx, caller: callerOf, scopeOf: async (md) => (await callerOf(md)).scope };
    this.h = handlersOf(ctx, d);
  }

  get ctx(): ApiContext {
    return this.d.ctx;
  }

  /** Calls one gRPC handler as `caller`; its refusal comes back as the StewardError it was. */
  call<Req, Res>(handler: handleUnaryCall<Req, Res>, request: Req, caller: Caller): Promise<Res> {
    const metadata = new Metadata();
    this.callers.set(metadata, caller);
    const call = { request, metadata, getPeer: () => 'trove-rest', cancelled: false } as unknown as ServerUnaryCall<Req, Res>;
    return new Promise<Res>((resolve, reject) => {
      const done: sendUnaryData<Res> = (err: Partial<ServiceError> | ServiceError | null, value?: Res | null) => {
        if (err) reject(new StewardError(codeOfNumber(err.code ?? 2), err.details || err.message || 'failed'));
        else resolve(value as Res);
      };
      handler(call, done);
    });
  }
}
