/**
 * Apache Iceberg's own REST catalog server (JDBC-backed: a SQLite file by default),
 * run by our launcher in deploy/infra/iceberg-rest that binds Jetty to loopback:
 * the stock server binds every interface and has no authentication.
 */
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isLocalHost, warehouseLocation, type Config } from '../../config.ts';
import { ensureDuckdbExtensions } from '../duckdb-extensions.ts';
import { cachePath, serverDir } from '../paths.ts';
import { requireTool, run, runningPid, startDaemon, stopDaemon, waitUntilReady } from '../process.ts';
import type { InfraContext, LocalService, ServiceStatus } from '../service.ts';

const POM = fileURLToPath(new URL('../../../deploy/infra/iceberg-rest/pom.xml', import.meta.url));

function jarDir(config: Config): { jar: string; lib: string } {
  return { jar: cachePath(config, 'iceberg', 'build', 'tempolake-iceberg-rest.jar'), lib: cachePath(config, 'iceberg', 'lib') };
}

/** Classpath of the catalog launcher and its maintenance tool (MaintainTables). */
export function icebergClasspath(config: Config): string {
  const { jar, lib } = jarDir(config);
  return `${jar}:${lib}/*`;
}

export async function catalogReady(config: Config): Promise<boolean> {
  try {
    const res = await fetch(new URL('v1/config', withSlash(config.icebergCatalogUrl)), { signal: AbortSignal.timeout(1000) });
    return res.ok;
  } catch {
    return false;
  }
}

function withSlash(url: URL): URL {
  return new URL(url.toString().endsWith('/') ? url.toString() : `${url.toString()}/`);
}

/** Catalog properties the launcher reads from CATALOG_* variables (`_` → `.`, `__` → `-`). */
export function catalogServerEnv(config: Config): NodeJS.ProcessEnv {
  const warehouse = warehouseLocation(config);
  const env: NodeJS.ProcessEnv = {
    CATALOG_REST_HOST: config.icebergCatalogUrl.hostname,
    CATALOG_REST_PORT: config.icebergCatalogUrl.port || '80',
    CATALOG_URI: config.icebergCatalogJdbcUri,
    CATALOG_WAREHOUSE: warehouse,
  };
  // One SQLite connection: the JDBC catalog's pool of two makes its connections lock each other out.
  if (config.icebergCatalogJdbcUri.startsWith('jdbc:sqlite:')) env['CATALOG_CLIENTS'] = '1';
  if (config.icebergCatalogJdbcUri.startsWith('jdbc:postgresql:')) {
    env['CATALOG_JDBC_USER'] = config.postgresUser;
    env['CATALOG_JDBC_PASSWORD'] = config.postgresPassword;
  }
  if (warehouse.startsWith('s3://')) {
    Object.assign(env, {
      CATALOG_IO__IMPL: 'org.apache.iceberg.aws.s3.S3FileIO',
      CATALOG_S3_ENDPOINT: config.s3Endpoint.toString().replace(/\/$/, ''),
      CATALOG_S3_PATH__STYLE__ACCESS: 'true',
      CATALOG_S3_ACCESS__KEY__ID: config.s3AccessKeyId,
      CATALOG_S3_SECRET__ACCESS__KEY: config.s3SecretAccessKey,
      CATALOG_CLIENT_REGION: config.s3Region,
    });
  }
  return env;
}

export const JAVA_FLAGS = ['-Xmx384m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Djava.net.preferIPv4Stack=true', '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn'];

export const icebergService: LocalService = {
  name: 'iceberg',
  managed: (config) => isLocalHost(config.icebergCatalogUrl.hostname),

  async provision({ config, progress }: InfraContext) {
    const { jar, lib } = jarDir(config);
    // The jar holds our own classes (launcher, maintenance tool): a source or pom edited since the
    // last build makes it stale.
    const sources = path.join(path.dirname(POM), 'src', 'main', 'java');
    const newestSource = Math.max(
      statSync(POM).mtimeMs,
      ...(readdirSync(sources, { recursive: true }) as string[]).filter((f) => f.endsWith('.java')).map((f) => statSync(path.join(sources, f)).mtimeMs),
    );
    if (!existsSync(path.join(lib, '.complete')) || !existsSync(jar) || statSync(jar).mtimeMs < newestSource) {
      await requireTool('java', 'to run the Iceberg REST catalog', 'Install Java 17 (apt-get install openjdk-17-jdk-headless).');
      const mvn = await requireTool('mvn', 'to build the Iceberg REST catalog launcher', 'Install Maven (apt-get install maven).');
      progress(`building the catalog launcher and fetching Apache Iceberg jars from Maven Central into ${path.dirname(lib)}`);
      await run(
        mvn,
        ['-q', '-B', '-f', POM, `-Dtempolake.cache=${config.cacheDir}`, 'package', 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies', `-DoutputDirectory=${lib}`],
        { what: 'mvn package (Iceberg REST catalog)' },
      );
      writeFileSync(path.join(lib, '.complete'), new Date().toISOString());
    }
    if (!existsSync(path.join(cachePath(config, 'duckdb-ext'), 'extensions'))) {
      progress('fetching the DuckDB httpfs, avro and iceberg extensions from PyPI');
    }
    await ensureDuckdbExtensions(config);
  },

  async start({ config, progress }: InfraContext) {
    const dir = serverDir(config, 'iceberg');
    if (runningPid(dir) !== undefined && (await catalogReady(config))) return;
    const java = await requireTool('java', 'to run the Iceberg REST catalog', 'Install Java 17.');
    const pid = startDaemon({
      dir,
      command: java,
      args: [...JAVA_FLAGS, '-cp', icebergClasspath(config), 'tempolake.CatalogServer'],
      env: { ...process.env, ...catalogServerEnv(config) },
    });
    await waitUntilReady({ name: 'Iceberg REST catalog', pid, logDir: dir, timeoutMs: 60_000, ready: () => catalogReady(config) });
    progress(`warehouse ${warehouseLocation(config)}`);
  },

  stop: ({ config }) => stopDaemon(serverDir(config, 'iceberg')),

  async status(config): Promise<ServiceStatus> {
    const pid = runningPid(serverDir(config, 'iceberg'));
    return {
      name: 'iceberg',
      address: config.icebergCatalogUrl.toString(),
      managed: this.managed(config),
      running: await catalogReady(config),
      ...(pid !== undefined ? { pid } : {}),
      notes: [`warehouse ${warehouseLocation(config)}`],
    };
  },
};
