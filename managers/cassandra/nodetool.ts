// nodetool, run from the server's own jars against the node's local JMX port,
// and the parsing of what it prints. Each call starts a short-lived JVM (about
// a second of CPU), so the status probe never uses it: only operations do.
import type { Runner } from '../sdk/runner.js';
import { internal } from '../sdk/errors.js';
import type { RingMember, RingView } from '../sdk/types.js';
import type { NodeSettings } from './config.js';
import type { Installation } from './install.js';
import { nodetoolCommand } from './jvm.js';
import type { CassandraPaths } from './paths.js';

export interface NodetoolDeps {
  runner: Runner;
  inst: Installation;
  paths: CassandraPaths;
  settings: Pick<NodeSettings, 'jmxPort'>;
}

export async function nodetool(deps: NodetoolDeps, args: string[], signal: AbortSignal, timeoutMs = 120_000): Promise<string> {
  const { command, args: argv } = nodetoolCommand(deps.inst, deps.paths, deps.settings, args);
  const { stdout } = await deps.runner(command, argv, { signal, timeoutMs, cwd: '/' });
  return stdout;
}

const STATUS = { U: 'up', D: 'down' } as const;
const STATE = { N: 'normal', J: 'joining', L: 'leaving', M: 'moving' } as const;

// "UN  127.0.0.1  114.69 KiB  16  100.0%  02ee15bb-363b-4da7-b8a3-3cebe1c440e3  rack1"
// Load has a unit after a space, or is "?" for a node that never reported one.
const MEMBER_LINE =
  /^([UD])([NJLM])\s+(\S+)\s+(\?|[\d.,]+ ?(?:bytes|[KMGTPE]i?B))\s+(\d+)\s+(\?|[\d.]+%)\s+([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\?)\s+(\S.*?)\s*$/;

/** The members listed by `nodetool status`, per data center. */
export function parseStatus(text: string): RingView {
  const members: RingMember[] = [];
  let dc = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    const header = /^Datacenter: (.+)$/.exec(line);
    if (header) {
      dc = header[1].trim();
      continue;
    }
    const m = MEMBER_LINE.exec(line);
    if (!m) continue;
    const [, status, state, address, load, tokens, owns, hostId, rack] = m;
    members.push({
      address,
      hostId: hostId === '?' ? '' : hostId,
      dataCenter: dc,
      rack,
      status: STATUS[status as keyof typeof STATUS],
      state: STATE[state as keyof typeof STATE],
      tokens: Number(tokens),
      load: load === '?' ? '' : load,
      owns: owns === '?' ? '' : owns,
    });
  }
  if (members.length === 0) throw internal(`nodetool status listed no members:\n${text.slice(0, 500)}`);
  // nodetool lists in token order, which changes as nodes come and go: by data center and address reads and compares better.
  const byName = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });
  members.sort((a, b) => byName(a.dataCenter, b.dataCenter) || byName(a.address, b.address));
  return { members };
}
