/**
 * Apache Kafka in KRaft mode (one broker that is also its controller), run from
 * the broker's jars on Maven Central with the machine's Java: no tarball host
 * is reachable here, and Maven resolves the exact dependency set.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isLocalHost, type Config } from '../../config.ts';
import { createKafka } from '../../clients/kafka.ts';
import { cachePath, serverDir } from '../paths.ts';
import { requireTool, run, runningPid, startDaemon, stopDaemon, waitUntilReady } from '../process.ts';
import type { InfraContext, LocalService, ServiceStatus } from '../service.ts';

const POM = fileURLToPath(new URL('../../../deploy/infra/kafka/pom.xml', import.meta.url));

function libDir(config: Config): string {
  // The pom's content names the folder, so a version bump resolves afresh.
  const pomVersion = /<kafka.version>([^<]+)</.exec(readFileSync(POM, 'utf8'))?.[1] ?? 'unknown';
  return cachePath(config, 'kafka', pomVersion, 'lib');
}

function broker(config: Config): { host: string; port: number } {
  const [first] = config.kafkaBrokers;
  const m = /^(.*):(\d+)$/.exec(first ?? '');
  return { host: m?.[1] ?? '127.0.0.1', port: Number(m?.[2] ?? 9092) };
}

async function kafkaReady(config: Config): Promise<boolean> {
  const admin = createKafka(config, 'tempolake-infra').admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

function serverProperties(config: Config, dir: string): string {
  const { host, port } = broker(config);
  const controller = `${host}:${config.kafkaControllerPort}`;
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@${controller}`,
    `listeners=PLAINTEXT://${host}:${port},CONTROLLER://${controller}`,
    `advertised.listeners=PLAINTEXT://${host}:${port}`,
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    'inter.broker.listener.name=PLAINTEXT',
    `log.dirs=${path.join(dir, 'data')}`,
    'num.partitions=3',
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=true',
    // The cleaner's 128 MB default dedupe buffer does not fit a small heap and kills the broker at start.
    'log.cleaner.dedupe.buffer.size=16777216',
    '',
  ].join('\n');
}

// Without a log4j2 config Kafka prints nothing at all, not even that it started.
const LOG4J2 = [
  'status = warn',
  'appender.console.type = Console',
  'appender.console.name = STDOUT',
  'appender.console.layout.type = PatternLayout',
  'appender.console.layout.pattern = [%d] %p %m (%c)%n',
  'rootLogger.level = WARN',
  'rootLogger.appenderRef.stdout.ref = STDOUT',
  'logger.kafka.name = kafka.server.KafkaRaftServer',
  'logger.kafka.level = INFO',
  '',
].join('\n');

export const kafkaService: LocalService = {
  name: 'kafka',
  managed: (config) => isLocalHost(broker(config).host),

  async provision({ config, progress }: InfraContext) {
    const lib = libDir(config);
    if (existsSync(path.join(lib, '.complete'))) return;
    await requireTool('java', 'to run Kafka', 'Install Java 17 (apt-get install openjdk-17-jre-headless).');
    const mvn = await requireTool('mvn', 'to fetch the Kafka jars from Maven Central', 'Install Maven (apt-get install maven).');
    progress(`fetching Kafka jars from Maven Central into ${lib}`);
    await run(mvn, ['-q', '-B', '-f', POM, 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies', `-DoutputDirectory=${lib}`], {
      what: 'mvn dependency:copy-dependencies (Kafka)',
    });
    writeFileSync(path.join(lib, '.complete'), new Date().toISOString());
  },

  async start({ config }: InfraContext) {
    const dir = serverDir(config, 'kafka');
    if (runningPid(dir) !== undefined && (await kafkaReady(config))) return;
    mkdirSync(dir, { recursive: true });
    const props = path.join(dir, 'server.properties');
    const log4j = path.join(dir, 'log4j2.properties');
    writeFileSync(props, serverProperties(config, dir));
    writeFileSync(log4j, LOG4J2);
    const java = await requireTool('java', 'to run Kafka', 'Install Java 17 (apt-get install openjdk-17-jre-headless).');
    const classpath = readdirSync(libDir(config))
      .filter((f) => f.endsWith('.jar'))
      .map((f) => path.join(libDir(config), f))
      .join(':');
    const jvm = ['-Xms128m', '-Xmx512m', '-XX:+UseSerialGC', `-Dlog4j2.configurationFile=${log4j}`, '-cp', classpath];

    // The cluster id is kept: formatting again with another id fails on existing data.
    const idFile = path.join(dir, 'cluster.id');
    if (!existsSync(idFile)) writeFileSync(idFile, randomBytes(16).toString('base64url'));
    const clusterId = readFileSync(idFile, 'utf8').trim();
    await run(java, [...jvm, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', props, '--ignore-formatted'], {
      what: 'Kafka storage format',
    });

    const pid = startDaemon({ dir, command: java, args: [...jvm, 'kafka.Kafka', props] });
    await waitUntilReady({ name: 'Kafka', pid, logDir: dir, timeoutMs: 90_000, ready: () => kafkaReady(config) });
  },

  stop: ({ config }) => stopDaemon(serverDir(config, 'kafka')),

  async status(config): Promise<ServiceStatus> {
    const pid = runningPid(serverDir(config, 'kafka'));
    return {
      name: 'kafka',
      address: config.kafkaBrokers.join(','),
      managed: this.managed(config),
      running: await kafkaReady(config),
      ...(pid !== undefined ? { pid } : {}),
      notes: [],
    };
  },
};
