// The server's and nodetool's Java command lines. The server line is also how
// the process backend recognises a running node after an agent restart (it
// compares /proc/<pid>/cmdline), so it is built only from persisted settings
// and options: the same node always gets the same line.
import { pathToFileURL } from 'node:url';
import type { ServiceSpec } from '../sdk/service-control.js';
import { heapMb, type NodeSettings } from './config.js';
import type { Installation } from './install.js';
import { OS_USER, UNIT, type CassandraPaths } from './paths.js';

/**
 * Java 17 module access Cassandra needs (conf/jvm17-server.options of the
 * Cassandra 5.0 distribution): it reaches into JDK internals for off-heap
 * buffers, JMX, the attach API and jamm's object sizing.
 */
export const JPMS_SERVER_OPTIONS: readonly string[] = [
  '-Djdk.attach.allowAttachSelf=true',
  '--add-exports',
  'java.base/jdk.internal.misc=ALL-UNNAMED',
  '--add-exports',
  'java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED',
  '--add-exports',
  'java.rmi/sun.rmi.registry=ALL-UNNAMED',
  '--add-exports',
  'java.rmi/sun.rmi.server=ALL-UNNAMED',
  '--add-exports',
  'java.sql/java.sql=ALL-UNNAMED',
  '--add-exports',
  'java.base/java.lang.ref=ALL-UNNAMED',
  '--add-exports',
  'jdk.unsupported/sun.misc=ALL-UNNAMED',
  '--add-exports',
  'jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED',
  '--add-exports',
  'jdk.attach/sun.tools.attach=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.lang.module=ALL-UNNAMED',
  '--add-opens',
  'java.base/jdk.internal.loader=ALL-UNNAMED',
  '--add-opens',
  'java.base/jdk.internal.ref=ALL-UNNAMED',
  '--add-opens',
  'java.base/jdk.internal.reflect=ALL-UNNAMED',
  '--add-opens',
  'java.base/jdk.internal.math=ALL-UNNAMED',
  '--add-opens',
  'java.base/jdk.internal.module=ALL-UNNAMED',
  '--add-opens',
  'java.base/jdk.internal.util.jar=ALL-UNNAMED',
  '--add-opens',
  'jdk.management/com.sun.management.internal=ALL-UNNAMED',
  '--add-opens',
  'java.base/sun.nio.ch=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.io=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.lang.reflect=ALL-UNNAMED',
  '--add-opens',
  'jdk.compiler/com.sun.tools.javac=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.lang=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.util=ALL-UNNAMED',
];

/** The same for command-line tools (conf/jvm17-clients.options): nodetool loads server classes that need them. */
export const JPMS_CLIENT_OPTIONS: readonly string[] = [
  '-Djdk.attach.allowAttachSelf=true',
  '--add-exports',
  'java.base/jdk.internal.misc=ALL-UNNAMED',
  '--add-exports',
  'java.base/jdk.internal.ref=ALL-UNNAMED',
  '--add-exports',
  'java.base/sun.nio.ch=ALL-UNNAMED',
  '--add-exports',
  'java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED',
  '--add-exports',
  'java.rmi/sun.rmi.registry=ALL-UNNAMED',
  '--add-exports',
  'java.rmi/sun.rmi.server=ALL-UNNAMED',
  '--add-exports',
  'java.sql/java.sql=ALL-UNNAMED',
  '--add-exports',
  'jdk.unsupported/sun.misc=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.lang.module=ALL-UNNAMED',
  '--add-opens',
  'java.base/jdk.internal.loader=ALL-UNNAMED',
  '--add-opens',
  'java.base/jdk.internal.ref=ALL-UNNAMED',
  '--add-opens',
  'java.base/jdk.internal.reflect=ALL-UNNAMED',
  '--add-opens',
  'java.base/jdk.internal.math=ALL-UNNAMED',
  '--add-opens',
  'java.base/jdk.internal.module=ALL-UNNAMED',
  '--add-opens',
  'java.base/jdk.internal.util.jar=ALL-UNNAMED',
  '--add-opens',
  'jdk.management/com.sun.management.internal=ALL-UNNAMED',
  '--add-opens',
  'java.base/sun.nio.ch=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.io=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.util.concurrent=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.util=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.util.concurrent.atomic=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.lang=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.math=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.lang.reflect=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.net=ALL-UNNAMED',
];

export function serverArgs(inst: Installation, paths: CassandraPaths, s: NodeSettings, extra: readonly string[]): string[] {
  const heap = heapMb(s.memoryMb);
  return [
    // A fixed heap: Cassandra sizes its caches and memtables from it at start-up.
    `-Xms${heap}m`,
    `-Xmx${heap}m`,
    '-Xss256k',
    // G1 as in jvm17-server.options (region size left to the JVM: small heaps need small regions).
    '-XX:+UseG1GC',
    '-XX:+ParallelRefProcEnabled',
    '-XX:MaxTenuringThreshold=1',
    '-XX:G1RSetUpdatingPauseTimePercent=5',
    '-XX:MaxGCPauseMillis=300',
    '-XX:InitiatingHeapOccupancyPercent=70',
    '-XX:+UseThreadPriorities',
    // A node out of heap may have corrupted state in memory: better dead than serving it.
    '-XX:+ExitOnOutOfMemoryError',
    // No hsperfdata files in /tmp (they also cause GC stalls on busy disks).
    '-XX:+PerfDisableSharedMem',
    '-Djava.net.preferIPv4Stack=true',
    ...JPMS_SERVER_OPTIONS,
    '-Dio.netty.tryReflectionSetAccessible=true',
    '-Dio.netty.allocator.useCacheForAllThreads=true',
    '-Dio.netty.allocator.maxOrder=11',
    `-javaagent:${inst.jamm}`,
    // Local-only JMX (127.0.0.1, no remote access): what nodetool uses.
    `-Dcassandra.jmx.local.port=${s.jmxPort}`,
    `-Dcassandra.config=${pathToFileURL(paths.yaml).href}`,
    `-Dcassandra-rackdc.properties=${pathToFileURL(paths.rackdc).href}`,
    `-Dlogback.configurationFile=${paths.logback}`,
    `-Dcassandra.logdir=${paths.serverLogDir}`,
    `-Dcassandra.storagedir=${paths.dataFiles}`,
    '-Dcassandra-foreground=yes',
    ...extra,
    '-cp',
    inst.classpath,
    'org.apache.cassandra.service.CassandraDaemon',
  ];
}

export interface ServiceInputs {
  inst: Installation;
  paths: CassandraPaths;
  settings: NodeSettings;
  extraJvmOptions: readonly string[];
}

export function serviceSpec({ inst, paths, settings, extraJvmOptions }: ServiceInputs): ServiceSpec {
  return {
    name: UNIT,
    command: inst.java,
    args: serverArgs(inst, paths, settings, extraJvmOptions),
    // Never root: Cassandra's own start script refuses root unless forced (-R), and so do we.
    user: OS_USER,
    cwd: paths.dataFiles,
    pidFile: paths.servicePidFile,
    logFile: paths.consoleLog,
    stopSignal: 'SIGTERM', // the shutdown hook flushes memtables (a drain normally came first)
    stopTimeoutMs: 180_000,
  };
}

/** nodetool from the same jars, on the node's local JMX port. */
export function nodetoolCommand(inst: Installation, paths: CassandraPaths, s: Pick<NodeSettings, 'jmxPort'>, args: readonly string[]) {
  return {
    command: inst.java,
    args: [
      '-Xms32m',
      '-Xmx256m',
      // A short-lived client: the serial collector and the quick compiler start fastest.
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-XX:+PerfDisableSharedMem',
      ...JPMS_CLIENT_OPTIONS,
      `-Dlogback.configurationFile=${paths.toolsLogback}`,
      `-Duser.home=${paths.toolHome}`,
      '-cp',
      inst.classpath,
      'org.apache.cassandra.tools.NodeTool',
      '-h',
      '127.0.0.1',
      '-p',
      String(s.jmxPort),
      ...args,
    ],
  };
}
