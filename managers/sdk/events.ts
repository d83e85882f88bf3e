// The notification catalog (DESIGN.md section 8): every event type Steward
// raises, without its phase. Each exists as `.start`, `.end` and `.error`. The
// operations table names an operation's event from this list, so a type that
// is not catalogued does not compile; the controller's notifier builds the
// payloads (controller/notifications).
export const EVENT_CATALOG = {
  instance: ['create', 'delete', 'reboot', 'modify_flavor', 'modify_volume', 'migrate', 'promote', 'failover'],
  cluster: ['create', 'delete', 'resize'],
  backup: ['create', 'delete'],
  user: ['create', 'delete'],
  database: ['create', 'delete'],
  root: ['enable'],
  replica: ['promote', 'eject'],
  configuration: ['attach', 'detach'],
} as const;

type Catalog = typeof EVENT_CATALOG;
export type ResourceKind = keyof Catalog;
/** "instance.create", "backup.delete", ...: a catalogued event type without its phase. */
export type EventType = { [K in ResourceKind]: `${K}.${Catalog[K][number]}` }[ResourceKind];
export type Phase = 'start' | 'end' | 'error';

export const PHASES: readonly Phase[] = ['start', 'end', 'error'];

export const ALL_EVENT_TYPES: readonly string[] = Object.entries(EVENT_CATALOG).flatMap(([kind, actions]) =>
  actions.flatMap((a) => PHASES.map((p) => `${kind}.${a}.${p}`)),
);

export const isResourceKind = (k: string): k is ResourceKind => Object.hasOwn(EVENT_CATALOG, k);

/** The kind of resource an event type is about: its first segment. */
export const resourceKindOf = (eventType: EventType): ResourceKind => eventType.slice(0, eventType.indexOf('.')) as ResourceKind;
