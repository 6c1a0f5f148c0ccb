/**
 * The local Spark engine: pyspark from PyPI into the cache virtualenv (it bundles Spark's
 * jars and spark-submit, and runs on the machine's Java 17) plus the Iceberg runtime, the
 * AWS bundle and hadoop-aws (s3a, for raw files on S3) from Maven Central
 * (deploy/infra/spark/pom.xml), passed with `--jars`. Nothing is downloaded when a job runs.
 *
 * pyspark is pinned to the 4.1 line because Iceberg's newest Spark runtime is for 4.1:
 * pyspark 4.2/4.3 fail with IncompatibleClassChangeError on it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config.ts';
import { cachePath } from '../infra/paths.ts';
import { InfraError, requireTool, run } from '../infra/process.ts';
import { pipInstall, venvBin } from '../infra/python.ts';
import type { Progress } from '../infra/service.ts';

/** Newest 4.1 patch on PyPI; the Spark line must match the runtime artifact in the pom. */
export const PYSPARK_VERSION = '4.1.4';

const POM = fileURLToPath(new URL('../../deploy/infra/spark/pom.xml', import.meta.url));

/** What a job needs to run: the programs, the Spark home inside the pyspark package, the jars. */
export interface SparkInstall {
  readonly pysparkVersion: string;
  /** `spark-submit` of the cache virtualenv. */
  readonly sparkSubmit: string;
  /** The virtualenv's python, for the driver and the executors (PYSPARK_PYTHON). */
  readonly python: string;
  /** The pyspark package folder, which is a Spark distribution (jars/, bin/, conf/). */
  readonly sparkHome: string;
  /** Absolute paths of the pom's jars (Iceberg, its AWS bundle, s3a), for `--jars`. */
  readonly jars: readonly string[];
}

/**
 * The cache folder's name: the pom's Iceberg version and a hash of the whole pom, so any change
 * to it (a version bump, an added jar) resolves afresh into a folder of its own.
 */
function jarSetName(): string {
  const pom = readFileSync(POM, 'utf8');
  const version = /<iceberg\.version>([\w.-]+)<\/iceberg\.version>/.exec(pom)?.[1] ?? 'unknown';
  return `iceberg-${version}-${createHash('sha256').update(pom).digest('hex').slice(0, 12)}`;
}

export function sparkJarDir(config: Config): string {
  return cachePath(config, 'spark', jarSetName(), 'jars');
}

/** The pyspark version and package folder the virtualenv imports, without importing pyspark (slow). */
async function installedPyspark(config: Config): Promise<{ version: string; home: string } | undefined> {
  const probe = [
    'import importlib.metadata as m, importlib.util as u',
    'spec = u.find_spec("pyspark")',
    'print(m.version("pyspark")); print(list(spec.submodule_search_locations)[0])',
  ].join('\n');
  try {
    const [version, home] = (await run(venvBin(config, 'python'), ['-c', probe], { what: 'pyspark version probe' })).trim().split('\n');
    return version && home ? { version, home } : undefined;
  } catch {
    return undefined;
  }
}

async function ensureSparkJars(config: Config, progress: Progress): Promise<string[]> {
  const dir = sparkJarDir(config);
  if (!existsSync(path.join(dir, '.complete'))) {
    const mvn = await requireTool('mvn', 'to fetch the Iceberg and s3a jars for Spark from Maven Central', 'Install Maven (apt-get install maven).');
    progress(`fetching the Iceberg runtime and s3a for Spark from Maven Central into ${dir}`);
    await run(mvn, ['-q', '-B', '-f', POM, 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies', `-DoutputDirectory=${dir}`], {
      what: 'mvn dependency:copy-dependencies (Iceberg and s3a for Spark)',
    });
    writeFileSync(path.join(dir, '.complete'), new Date().toISOString());
  }
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jar'))
    .sort()
    .map((f) => path.join(dir, f));
}

async function provision(config: Config, progress: Progress): Promise<SparkInstall> {
  await requireTool('java', 'to run Spark', 'Install Java 17 (apt-get install openjdk-17-jre-headless).');
  let found = await installedPyspark(config);
  if (found?.version !== PYSPARK_VERSION) {
    progress(`installing pyspark ${PYSPARK_VERSION} from PyPI into the cache virtualenv (about 450 MB)`);
    await pipInstall(config, [`pyspark==${PYSPARK_VERSION}`]);
    found = await installedPyspark(config);
    if (found?.version !== PYSPARK_VERSION) {
      throw new InfraError(`after pip install, the cache virtualenv imports pyspark ${found?.version ?? 'nothing'}, not ${PYSPARK_VERSION}`);
    }
  }
  const jars = await ensureSparkJars(config, progress);
  const sparkSubmit = venvBin(config, 'spark-submit');
  if (!existsSync(sparkSubmit)) throw new InfraError(`pyspark ${PYSPARK_VERSION} is installed but ${sparkSubmit} is missing`);
  return { pysparkVersion: found.version, sparkSubmit, python: venvBin(config, 'python'), sparkHome: found.home, jars };
}

const pending = new Map<string, Promise<SparkInstall>>();

/**
 * Installs pyspark and the pom's jars into the cache folder unless there, once per process
 * (later calls share the first one's answer); a failed install is retried by the next call.
 */
export function ensureSpark(config: Config, progress: Progress = () => undefined): Promise<SparkInstall> {
  let p = pending.get(config.cacheDir);
  if (!p) {
    p = provision(config, progress);
    p.catch(() => pending.delete(config.cacheDir));
    pending.set(config.cacheDir, p);
  }
  return p;
}
