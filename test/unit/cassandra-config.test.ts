import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { heapMb, renderCassandraYaml, renderLogback, renderRackdc, tuning, type NodeSettings } from '../../managers/cassandra/config.js';
import { optionsFromEnv } from '../../managers/cassandra/install.js';
import { nodetoolCommand, serverArgs } from '../../managers/cassandra/jvm.js';
import { gossipState, ringFacts } from '../../managers/cassandra/manager.js';
import { parseStatus } from '../../managers/cassandra/nodetool.js';
import { cassandraPaths } from '../../managers/cassandra/paths.js';

const paths = cassandraPaths({ configDir: '/i/config', dataDir: '/i/data', runDir: '/i/run', logDir: '/i/log' });
const settings: NodeSettings = {
  clusterName: 'ring one',
  seeds: ['10.0.0.1', '10.0.0.2'],
  dataCenter: 'dc1',
  rack: 'rack2',
  autoBootstrap: true,
  address: '10.0.0.3',
  nativePort: 9042,
  storagePort: 7000,
  jmxPort: 7199,
  memoryMb: 1024,
};
const inst = { java: '/usr/bin/java', classpath: '/c/lib/*', jamm: '/c/lib/jamm-0.4.0.jar' };

describe('cassandra.yaml', () => {
  const y = parse(renderCassandraYaml(settings, paths)) as Record<string, unknown>;

  it('puts the node on its address, ports and directories', () => {
    expect(y).toMatchObject({
      cluster_name: 'ring one',
      listen_address: '10.0.0.3',
      rpc_address: '10.0.0.3',
      native_transport_port: 9042,
      storage_port: 7000,
      auto_bootstrap: true,
      data_file_directories: ['/i/data/data'],
      commitlog_directory: '/i/data/commitlog',
      hints_directory: '/i/data/hints',
      saved_caches_directory: '/i/data/saved_caches',
    });
  });

  it('requires logins and permissions, and takes data center and rack from the snitch file', () => {
    expect(y).toMatchObject({
      authenticator: 'PasswordAuthenticator',
      authorizer: 'CassandraAuthorizer',
      role_manager: 'CassandraRoleManager',
      endpoint_snitch: 'GossipingPropertyFileSnitch',
      num_tokens: 16,
    });
    expect(y.seed_provider).toEqual([{ class_name: 'org.apache.cassandra.locator.SimpleSeedProvider', parameters: [{ seeds: '10.0.0.1,10.0.0.2' }] }]);
    expect(renderRackdc(settings)).toContain('dc=dc1\nrack=rack2\n');
    expect(() => renderRackdc({ dataCenter: 'dc1\nrack=evil', rack: 'r' })).toThrow();
  });

  it('sizes the heap like cassandra-env.sh and pools by memory', () => {
    expect(heapMb(1024)).toBe(512);
    expect(heapMb(4096)).toBe(1024);
    expect(heapMb(16384)).toBe(4096);
    expect(heapMb(65536)).toBe(8192);
    expect(tuning(1024).concurrent_writes).toBeLessThan(tuning(16384).concurrent_writes);
  });

  it('logback keeps system.log in the server log directory, escaped', () => {
    expect(renderLogback({ serverLogDir: '/i/log/cassandra' })).toContain('<file>/i/log/cassandra/system.log</file>');
    expect(renderLogback({ serverLogDir: '/x&<y' })).toContain('/x&amp;&lt;y/system.log');
  });
});

describe('java command lines', () => {
  const args = serverArgs(inst, paths, settings, ['-Dcassandra.ring_delay_ms=1000']);

  it('runs CassandraDaemon with a fixed heap, the jamm agent, local JMX and the rendered files', () => {
    expect(args.at(-1)).toBe('org.apache.cassandra.service.CassandraDaemon');
    expect(args).toEqual(expect.arrayContaining(['-Xms512m', '-Xmx512m', '-javaagent:/c/lib/jamm-0.4.0.jar', '-Dcassandra.jmx.local.port=7199']));
    expect(args).toContain('-Dcassandra.config=file:///i/config/cassandra.yaml');
    expect(args).toContain('-Dcassandra-rackdc.properties=file:///i/config/cassandra-rackdc.properties');
    expect(args).toEqual(
      expect.arrayContaining(['--add-exports', 'java.base/jdk.internal.misc=ALL-UNNAMED', '--add-opens', 'java.base/sun.nio.ch=ALL-UNNAMED']),
    );
    // Extra options come before the class path, so they are JVM options.
    expect(args.indexOf('-Dcassandra.ring_delay_ms=1000')).toBeLessThan(args.indexOf('-cp'));
  });

  it('is the same line every time (a restarted agent adopts the server by it)', () => {
    expect(serverArgs(inst, paths, settings, [])).toEqual(serverArgs(inst, paths, { ...settings }, []));
  });

  it('nodetool talks to the local JMX port', () => {
    const { command, args: nt } = nodetoolCommand(inst, paths, settings, ['status']);
    expect(command).toBe('/usr/bin/java');
    expect(nt.slice(-6)).toEqual(['org.apache.cassandra.tools.NodeTool', '-h', '127.0.0.1', '-p', '7199', 'status']);
  });

  it('options come from STEWARD_CASSANDRA_* with packaged defaults', () => {
    expect(optionsFromEnv({})).toEqual({
      home: '/usr/share/cassandra',
      javaHome: undefined,
      confDir: undefined,
      storagePort: 7000,
      jmxPort: 7199,
      extraJvmOptions: [],
    });
    expect(optionsFromEnv({ STEWARD_CASSANDRA_HOME: '/c', STEWARD_CASSANDRA_JMX_PORT: '17199', STEWARD_CASSANDRA_JVM_OPTS: ' -Da=1  -Db=2 ' })).toMatchObject({
      home: '/c',
      jmxPort: 17199,
      extraJvmOptions: ['-Da=1', '-Db=2'],
    });
    expect(() => optionsFromEnv({ STEWARD_CASSANDRA_STORAGE_PORT: 'x' })).toThrow(/STEWARD_CASSANDRA_STORAGE_PORT/);
  });
});

describe('nodetool status', () => {
  const out = `Datacenter: dc1
===============
Status=Up/Down
|/ State=Normal/Leaving/Joining/Moving
--  Address    Load        Tokens  Owns (effective)  Host ID                               Rack
UN  127.0.0.3  114.69 KiB  16      75.2%             3f9b1a2c-0000-4000-8000-000000000003  rack1
UN  127.0.0.1  0 bytes     16      80.1%             3f9b1a2c-0000-4000-8000-000000000001  rack1
DL  127.0.0.10 1.2 MiB     16      44.7%             3f9b1a2c-0000-4000-8000-000000000010  rack 2
UJ  127.0.0.2  ?           16      ?                 3f9b1a2c-0000-4000-8000-000000000002  rack1

Datacenter: dc2
===============
Status=Up/Down
|/ State=Normal/Leaving/Joining/Moving
--  Address    Load        Tokens  Owns (effective)  Host ID                               Rack
UM  10.1.0.1   2.5 GiB     16      100.0%            3f9b1a2c-0000-4000-8000-000000000101  r1
`;

  it('lists every member with its state, sorted by data center and address', () => {
    const { members } = parseStatus(out);
    expect(members.map((m) => [m.dataCenter, m.address, m.status, m.state])).toEqual([
      ['dc1', '127.0.0.1', 'up', 'normal'],
      ['dc1', '127.0.0.2', 'up', 'joining'],
      ['dc1', '127.0.0.3', 'up', 'normal'],
      ['dc1', '127.0.0.10', 'down', 'leaving'],
      ['dc2', '10.1.0.1', 'up', 'moving'],
    ]);
    expect(members[0]).toEqual({
      address: '127.0.0.1',
      hostId: '3f9b1a2c-0000-4000-8000-000000000001',
      dataCenter: 'dc1',
      rack: 'rack1',
      status: 'up',
      state: 'normal',
      tokens: 16,
      load: '0 bytes',
      owns: '80.1%',
    });
    expect(members[1]).toMatchObject({ load: '', owns: '' });
    expect(members[3]).toMatchObject({ load: '1.2 MiB', rack: 'rack 2' });
  });

  it('refuses output without members', () => {
    expect(() => parseStatus('error: connection refused')).toThrow(/no members/);
  });
});

describe('probe facts from gossip', () => {
  it('maps gossip states and counts the ring', () => {
    expect(gossipState('NORMAL,-123')).toBe('normal');
    expect(gossipState('BOOT,1')).toBe('joining');
    expect(gossipState('shutdown,true')).toBe('down');
    expect(gossipState(null)).toBe('unknown');
    const facts = ringFacts(
      { cluster_name: 'c', data_center: 'dc1', rack: 'r1', host_id: 'h', bootstrapped: 'COMPLETED' },
      [
        { address: '127.0.0.1', status_with_port: 'NORMAL,1' },
        { address: '127.0.0.2', status: 'NORMAL,2' },
        { address: '127.0.0.3', status_with_port: 'LEAVING,3' },
        { address: '127.0.0.4', status_with_port: 'LEFT,4' },
      ],
      '127.0.0.1',
    );
    expect(facts).toMatchObject({ node_state: 'normal', ring_members: '3', ring_normal: '2', ring_leaving: '1', data_center: 'dc1' });
    expect(ringFacts(undefined, [], '127.0.0.1').node_state).toBe('joining');
  });
});
