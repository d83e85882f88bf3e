// Configuration groups: named, checked parameter values for one datastore,
// owned by a tenant and attached to instances. The rules are the datastore's
// own (its manager's parameters.ts, reached through the catalog); a group is
// checked against them before it is stored, and the agent checks the values
// again before it writes anything. Applying is an operation (apply_configuration)
// carrying the whole group; its result says which parameters wait for a
// restart, recorded on the instance until a start or restart succeeds.
import { randomUUID } from 'node:crypto';
import type {
  ConfigurationGroup,
  ConfigurationDefaultsResponse,
  CreateConfigurationRequest,
  UpdateConfigurationRequest,
} from '../../proto/gen/steward/v1/configurations.js';
import { checkParameters, type ParameterCatalog } from '../../managers/sdk/configuration.js';
import { failedPrecondition, invalidArgument, StewardError } from '../../managers/sdk/errors.js';
import type { Logger } from '../../managers/sdk/logger.js';
import { payload, resultOf } from '../../managers/sdk/operations/payload.js';
import { OperationState } from '../../managers/sdk/operations/state.js';
import type { DatastoreCatalog } from '../catalog.js';
import { nowIso } from '../clock.js';
import type { InstanceService } from '../instances.js';
import { checkDescription, checkDisplayName } from '../names.js';
import { storedResult, type OperationService } from '../operations.js';
import type { Store } from '../store/open.js';
import type { InstancesTable, OperationsTable } from '../store/schema.js';
import { findVisible, visibleRows, type CallerScope } from '../tenancy.js';
import type { ConfigurationsTable } from './schema.js';

export interface ConfigurationDeps {
  store: Store;
  catalog: DatastoreCatalog;
  operations: OperationService;
  instances: InstanceService;
  log: Logger;
}

/** A tenant's groups are few; a bound keeps a runaway script from filling the store. */
const MAX_GROUPS_PER_TENANT = 1000;
/** The instance size `defaults` assumes when none is given (what an instance is created with by default). */
const DEFAULT_MEMORY_MB = 512;

/** Operations after which the server runs with everything its config says. */
const STARTS_SERVER = new Set(['restart', 'start', 'prepare', 'rebuild_replica']);

export class ConfigurationService {
  constructor(private readonly d: ConfigurationDeps) {
    d.operations.onChange((trx, op, moment) => this.onOperation(trx, op, moment));
  }

  /** The datastore's parameter rules (FAILED_PRECONDITION when it has no configuration groups). */
  parameters(datastore: string, field = 'datastore'): ParameterCatalog {
    const module = this.d.catalog.get(datastore, field);
    this.d.catalog.require(module.name, 'configuration');
    const catalog = module.validator.parameters;
    if (!catalog) throw failedPrecondition(`${module.name} declares "configuration" but has no parameter rules`);
    return catalog;
  }

  async create(tenantId: string, req: CreateConfigurationRequest): Promise<ConfigurationsTable> {
    const name = checkDisplayName(req.name, 'name');
    const description = checkDescription(req.description, 'description');
    const catalog = this.parameters(req.datastore);
    const values = checkParameters(catalog.rules, req.values);
    const count = await this.d.store
      .selectFrom('configurations')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', tenantId)
      .where('deleted_at', 'is', null)
      .executeTakeFirstOrThrow();
    if (Number(count.n) >= MAX_GROUPS_PER_TENANT)
      throw new StewardError('RESOURCE_EXHAUSTED', `a tenant may have at most ${MAX_GROUPS_PER_TENANT} configuration groups`);
    const now = nowIso();
    const row: ConfigurationsTable = {
      id: randomUUID(),
      tenant_id: tenantId,
      name,
      description,
      datastore: this.d.catalog.get(req.datastore).name,
      values: JSON.stringify(values),
      created_at: now,
      updated_at: now,
      deleted_at: null,
    };
    await this.d.store.insertInto('configurations').values(row).execute();
    this.d.log.info({ configurationId: row.id, datastore: row.datastore, parameters: Object.keys(values) }, 'configuration group created');
    return row;
  }

  get(scope: CallerScope, id: string): Promise<ConfigurationsTable> {
    return findVisible(this.d.store, 'configurations', id, scope, 'configuration group');
  }

  list(scope: CallerScope): Promise<ConfigurationsTable[]> {
    return visibleRows(this.d.store, 'configurations', scope).orderBy('created_at').execute();
  }

  /** Patch or replace; every attached instance is sent the new values (waiting PENDING for an agent that is away). */
  async update(scope: CallerScope, req: UpdateConfigurationRequest): Promise<{ group: ConfigurationsTable; operations: OperationsTable[] }> {
    const group = await this.get(scope, req.id);
    const catalog = this.parameters(group.datastore);
    const name = req.name ? checkDisplayName(req.name, 'name') : group.name;
    const description = req.description ? checkDescription(req.description, 'description') : group.description;
    let merged: Record<string, string>;
    if (req.replace) {
      if (req.unset.length) throw invalidArgument('unset', 'has no meaning with replace: the values given are the whole group');
      merged = { ...req.values };
    } else {
      merged = { ...valuesOf(group), ...req.values };
      req.unset.forEach((n, i) => {
        if (!Object.hasOwn(merged, n)) throw invalidArgument(`unset[${i}]`, `${JSON.stringify(n.slice(0, 64))} is not set in this group`);
        delete merged[n];
      });
    }
    const values = checkParameters(catalog.rules, merged);
    const updatedAt = nowIso();
    const next = { ...group, name, description, values: JSON.stringify(values), updated_at: updatedAt };
    await this.d.store
      .updateTable('configurations')
      .set({ name, description, values: next.values, updated_at: updatedAt })
      .where('id', '=', group.id)
      .execute();
    const operations: OperationsTable[] = [];
    for (const inst of await this.attached(group.id)) {
      operations.push(await this.d.operations.start(inst.id, payload('applyConfiguration', { values }), { requireConnected: false }));
    }
    this.d.log.info({ configurationId: group.id, instances: operations.length }, 'configuration group updated');
    return { group: next, operations };
  }

  async delete(scope: CallerScope, id: string): Promise<ConfigurationsTable> {
    const group = await this.get(scope, id);
    const users = await this.attached(id);
    if (users.length) {
      throw failedPrecondition(`configuration group ${id} is attached to ${users.length} instance(s) (${users.map((u) => u.id).join(', ')}): detach it first`);
    }
    const deletedAt = nowIso();
    await this.d.store.updateTable('configurations').set({ deleted_at: deletedAt }).where('id', '=', id).where('deleted_at', 'is', null).execute();
    return { ...group, deleted_at: deletedAt };
  }

  /** Attaches a group to an instance without one; the instance records it in the same transaction that accepts the apply. */
  async attach(scope: CallerScope, instanceId: string, groupId: string): Promise<OperationsTable> {
    const inst = await this.d.instances.ready(scope, instanceId);
    const group = await this.get(scope, groupId);
    if (group.tenant_id !== inst.tenant_id) throw failedPrecondition('the group and the instance belong to different tenants');
    if (group.datastore !== inst.datastore) {
      throw invalidArgument('configuration_id', `is a ${group.datastore} group; instance ${inst.id} runs ${inst.datastore}`);
    }
    if (inst.configuration_id) throw failedPrecondition(`instance ${inst.id} already has configuration group ${inst.configuration_id}: detach it first`);
    return this.d.operations.start(inst.id, payload('applyConfiguration', { values: valuesOf(group) }), {
      inTransaction: async (trx) => {
        const r = await trx
          .updateTable('instances')
          .set({ configuration_id: group.id })
          .where('id', '=', inst.id)
          .where('configuration_id', 'is', null)
          .executeTakeFirst();
        if (Number(r.numUpdatedRows) !== 1) throw failedPrecondition(`instance ${inst.id} was given another configuration group meanwhile`);
      },
    });
  }

  /** Back to Steward's defaults (the apply carries no values). */
  async detach(scope: CallerScope, instanceId: string): Promise<OperationsTable> {
    const inst = await this.d.instances.ready(scope, instanceId);
    if (!inst.configuration_id) throw failedPrecondition(`instance ${inst.id} has no configuration group`);
    this.parameters(inst.datastore);
    return this.d.operations.start(inst.id, payload('applyConfiguration', { values: {} }), {
      inTransaction: async (trx) => {
        await trx.updateTable('instances').set({ configuration_id: null }).where('id', '=', inst.id).execute();
      },
    });
  }

  defaults(datastore: string, memoryMb: number): ConfigurationDefaultsResponse {
    if (memoryMb && (memoryMb < 128 || memoryMb > 1_048_576)) throw invalidArgument('memory_mb', 'must be between 128 and 1048576');
    const catalog = this.parameters(datastore);
    return {
      rules: catalog.rules.map((r) => ({
        name: r.name,
        type: r.type,
        min: r.min ?? 0,
        max: r.max ?? 0,
        values: [...(r.values ?? [])],
        unit: r.unit ?? '',
        dynamic: r.dynamic,
        description: r.description,
      })),
      defaults: catalog.defaults(memoryMb || DEFAULT_MEMORY_MB),
    };
  }

  /**
   * The values an instance created with `groupId` (or restored from a backup
   * that recorded one) is prepared with; checked against its datastore.
   */
  async forNewInstance(scope: CallerScope, groupId: string, datastore: string): Promise<{ id: string; values: Record<string, string> }> {
    const group = await this.get(scope, groupId).catch((err) => {
      throw invalidArgument('configuration_id', (err as Error).message);
    });
    if (group.datastore !== datastore) throw invalidArgument('configuration_id', `is a ${group.datastore} group, not ${datastore}`);
    return { id: group.id, values: valuesOf(group) };
  }

  async toProto(row: ConfigurationsTable): Promise<ConfigurationGroup> {
    return {
      id: row.id,
      name: row.name,
      description: row.description,
      datastore: row.datastore,
      values: valuesOf(row),
      instanceIds: (await this.attached(row.id)).map((i) => i.id),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }

  private attached(groupId: string): Promise<InstancesTable[]> {
    return this.d.store
      .selectFrom('instances')
      .selectAll()
      .where('configuration_id', '=', groupId)
      .where('deleted_at', 'is', null)
      .orderBy('created_at')
      .execute();
  }

  /** What waits for a restart: named by an apply's result, cleared when the server next starts. */
  private async onOperation(trx: Store, op: OperationsTable, moment: string): Promise<void> {
    if (moment !== 'finished' || op.state !== OperationState.SUCCEEDED) return;
    if (op.kind === 'apply_configuration') {
      const pending = resultOf(storedResult(op), 'configuration')?.pendingRestart ?? [];
      await trx
        .updateTable('instances')
        .set({ pending_restart: JSON.stringify(pending) })
        .where('id', '=', op.instance_id)
        .execute();
    } else if (STARTS_SERVER.has(op.kind)) {
      await trx.updateTable('instances').set({ pending_restart: '[]' }).where('id', '=', op.instance_id).where('pending_restart', '!=', '[]').execute();
    }
  }
}

export const valuesOf = (row: Pick<ConfigurationsTable, 'values'>): Record<string, string> => JSON.parse(row.values) as Record<string, string>;
