/**
 * Raw → curated for source A on the two engines: DuckDB in the worker (lib/curate/curate-day.ts)
 * against local Spark (deploy/spark/jobs/curate_source_a.py through lib/spark/submit.ts), on the
 * same file into the same lake, at growing sizes — where does Spark start to pay off?
 *
 *   npm run bench:spark -- [--records 1000000,10000000,50000000] [--malformed-rate 0.001]
 *                          [--engines duckdb,spark]
 *
 * Per size: one generated file; DuckDB curates it as a day of its own in a child process (its
 * RSS is DuckDB's), Spark as another day (spark-submit → JVM → Python driver, all their RSS
 * summed). Both publish everything the activity publishes: curated rows, rejected records with
 * line numbers, the lineage row, in Iceberg commits. Printed: seconds, rows/s, peak memory
 * (sampled every 200 ms from /proc), and Spark's start-up (JVM + session) apart from its work.
 * Settings are the project's defaults unless the environment sets them: DUCKDB_MEMORY_LIMIT,
 * SPARK_MASTER, SPARK_DRIVER_MEMORY.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from '../lib/config.ts';
import { curateDay } from '../lib/curate/curate-day.ts';
import { rawFileOnDisk } from '../lib/curate/source-a.ts';
import { openLakeSession } from '../lib/lake/session.ts';
import { ALL_TABLES, ensureTables } from '../lib/lake/tables.ts';
import { ensureSpark } from '../lib/spark/provision.ts';
import { runSparkJob } from '../lib/spark/submit.ts';
import { addDays } from '../lib/time/days.ts';
import { generateSourceFile, sourceFileName } from '../simulators/files/generate.ts';
import { startTestLake } from '../test/helpers/lake.ts';

const THIS_FILE = fileURLToPath(import.meta.url);
const REPO_ROOT = path.resolve(path.dirname(THIS_FILE), '..');
const CHILD_ENV = 'TEMPOLAKE_BENCH_CHILD';
const LAG_DAYS = 3;
const SAMPLE_MS = 200;

const secs = (ms: number): string => (ms / 1000).toFixed(1);
const perSec = (n: number, ms: number): string => Math.round(n / (ms / 1000)).toLocaleString('en-US');
const mib = (kb: number): string => `${(kb / 1024).toFixed(0)} MB`;

interface Run {
  readonly ms: number;
  readonly rows: number;
  readonly rejected: number;
  readonly peakRssKb: number;
  /** Spark only: JVM start and session (catalog) before the job's work. */
  readonly startupMs?: number;
}

// ---------------------------------------------------------------- memory of a process tree

/** pid → (parent pid, RSS kB) of every process now. */
function processTable(): Map<number, { ppid: number; rssKb: number }> {
  const table = new Map<number, { ppid: number; rssKb: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
      table.set(Number(entry), { ppid: field('PPid'), rssKb: field('VmRSS') });
    } catch {
      // gone meanwhile
    }
  }
  return table;
}

function descendants(table: Map<number, { ppid: number }>, root: number): Set<number> {
  const out = new Set<number>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, { ppid }] of table) {
      if (!out.has(pid) && (ppid === root || out.has(ppid))) {
        out.add(pid);
        grew = true;
      }
    }
  }
  return out;
}

/**
 * The peak summed RSS of this process's descendants that were not running when it started
 * (the lake's catalog server is one that was): the engine's processes, however deep.
 */
function sampleEnginePeak(): { stop(): number } {
  const before = descendants(processTable(), process.pid);
  let peak = 0;
  const sample = (): void => {
    const table = processTable();
    let sum = 0;
    for (const pid of descendants(table, process.pid)) if (!before.has(pid)) sum += table.get(pid)?.rssKb ?? 0;
    peak = Math.max(peak, sum);
  };
  const timer = setInterval(sample, SAMPLE_MS);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

// ---------------------------------------------------------------- the engines

interface ChildRequest {
  readonly file: string;
  readonly rawKey: string;
  readonly ingestDay: string;
}

/** DuckDB's run, in the child: the curate activity's path, tables ensured first (not timed). */
async function childMain(request: ChildRequest): Promise<void> {
  const config = loadConfig();
  const session = await openLakeSession(config);
  try {
    await ensureTables(session, ALL_TABLES);
    const t0 = performance.now();
    const r = await curateDay(session, {
      def: { id: 'source_a', lagDays: LAG_DAYS },
      ingestDay: request.ingestDay,
      files: [rawFileOnDisk(request.file, request.rawKey)],
      lineage: { workflowId: `bench:source_a:${request.ingestDay}`, runId: 'duckdb', inputs: [{ key: request.rawKey, sha256: '' }] },
    });
    process.stdout.write(`${JSON.stringify({ ms: performance.now() - t0, rows: r.rows, rejected: r.rejected })}\n`);
  } finally {
    session.close();
  }
}

async function runDuckdb(lake: Config, lakeDir: string, request: ChildRequest): Promise<Run> {
  const memory = sampleEnginePeak();
  const child = spawn(process.execPath, ['--import', 'tsx', THIS_FILE], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...process.env,
      [CHILD_ENV]: JSON.stringify(request),
      TEMPOLAKE_DATA_DIR: lakeDir,
      LAKE_STORAGE: 'local',
      LAKE_LOCAL_ROOT: lake.lakeLocalRoot,
      ICEBERG_CATALOG_URL: lake.icebergCatalogUrl.toString(),
      ICEBERG_CATALOG_JDBC_URI: lake.icebergCatalogJdbcUri,
    },
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => void (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const peakRssKb = memory.stop();
  if (code !== 0) throw new Error(`the DuckDB child exited with ${code}`);
  const r = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { ms: number; rows: number; rejected: number };
  return { ...r, peakRssKb };
}

async function runSpark(config: Config, request: ChildRequest, onLog: (line: string) => void): Promise<Run> {
  const memory = sampleEnginePeak();
  const curatedDay = addDays(request.ingestDay, -LAG_DAYS);
  let peakRssKb = 0;
  let job;
  try {
    job = await runSparkJob<{ rows: number; rejected: number }>(config, {
      script: 'curate_source_a.py',
      args: [
        '--input',
        JSON.stringify({
          ingestDay: request.ingestDay,
          curatedDay,
          files: [{ rawKey: request.rawKey, location: request.file }],
          lineage: { workflowId: `bench:source_a:${request.ingestDay}`, runId: 'spark', inputs: [{ key: request.rawKey, sha256: '' }] },
        }),
      ],
      onProgress: (line) => {
        if (line.startsWith('tempolake: ')) onLog(line);
      },
    });
  } finally {
    peakRssKb = memory.stop();
  }
  const startupMs = job.timing.jvmStartMs + job.timing.sessionStartMs;
  return { ms: job.timing.totalMs, rows: job.result.rows, rejected: job.result.rejected, peakRssKb, startupMs };
}

// ---------------------------------------------------------------- main

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      records: { type: 'string', default: '1000000,10000000,50000000' },
      'malformed-rate': { type: 'string', default: '0.001' },
      engines: { type: 'string', default: 'duckdb,spark' },
    },
  });
  const sizes = values.records.split(',').map((s) => Number(s.trim()));
  if (sizes.some((n) => !Number.isSafeInteger(n) || n < 1)) throw new RangeError(`--records must be whole numbers ≥ 1, got ${values.records}`);
  const engines = new Set(values.engines.split(',').map((e) => e.trim()));
  for (const e of engines) if (e !== 'duckdb' && e !== 'spark') throw new RangeError(`--engines takes duckdb and spark, got ${e}`);
  const malformedRate = Number(values['malformed-rate']);

  const loadAtStart = loadavg()[0] ?? 0;
  console.log(`machine: ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const work = await mkdtemp(path.join(tmpdir(), 'tempolake-bench-spark-'));
  const lake = await startTestLake();
  const config = lake.config;
  console.log(`DuckDB: memory_limit ${config.duckdbMemoryLimit}; Spark: ${config.sparkMaster}, driver memory ${config.sparkDriverMemory}`);
  if (engines.has('spark')) await ensureSpark(config, (line) => console.log(`  ${line}`));
  const rows: string[][] = [];
  try {
    for (const [i, records] of sizes.entries()) {
      const ingestDay = addDays('2021-10-04', 2 * i);
      const file = path.join(work, sourceFileName('a', ingestDay));
      const gen = await generateSourceFile({ source: 'a', day: ingestDay, records, malformedRate, seed: `bench-${records}`, out: file });
      console.log(`\n${records.toLocaleString('en-US')} records: ${(gen.bytes / 1e9).toFixed(2)} GB, generated in ${secs(gen.elapsedMs)} s`);
      const runs: Partial<Record<'duckdb' | 'spark', Run>> = {};
      if (engines.has('duckdb')) {
        const day = ingestDay;
        runs.duckdb = await runDuckdb(config, lake.dir, { file, rawKey: `raw/source_a/day=${day}/${path.basename(file)}`, ingestDay: day });
        const d = runs.duckdb;
        console.log(`  DuckDB: ${secs(d.ms)} s, ${perSec(records, d.ms)} rows/s, peak ${mib(d.peakRssKb)} (${d.rows} rows, ${d.rejected} rejected)`);
      }
      if (engines.has('spark')) {
        // The next day: Spark publishes a partition of its own, as DuckDB did.
        const day = addDays(ingestDay, 1);
        runs.spark = await runSpark(config, { file, rawKey: `raw/source_a/day=${day}/${path.basename(file)}`, ingestDay: day }, (l) => console.log(`  ${l}`));
        const s = runs.spark;
        const work = s.ms - (s.startupMs ?? 0);
        console.log(
          `  Spark: ${secs(s.ms)} s (start-up ${secs(s.startupMs ?? 0)} s), ${perSec(records, s.ms)} rows/s (${perSec(records, work)} after start-up), ` +
            `peak ${mib(s.peakRssKb)} (${s.rows} rows, ${s.rejected} rejected)`,
        );
      }
      const { duckdb: d, spark: s } = runs;
      if (d && s && (d.rows !== s.rows || d.rejected !== s.rejected)) {
        throw new Error(`the engines disagree: DuckDB ${d.rows} rows / ${d.rejected} rejected, Spark ${s.rows} / ${s.rejected}`);
      }
      rows.push([
        records.toLocaleString('en-US'),
        `${(gen.bytes / 1e9).toFixed(2)} GB`,
        d ? `${secs(d.ms)} s, ${perSec(records, d.ms)}/s, ${mib(d.peakRssKb)}` : '-',
        s ? `${secs(s.ms)} s (start-up ${secs(s.startupMs ?? 0)}), ${perSec(records, s.ms)}/s, ${mib(s.peakRssKb)}` : '-',
        d && s ? `${(s.ms / d.ms).toFixed(2)}×` : '-',
      ]);
      await rm(file, { force: true });
    }
  } finally {
    await rm(work, { recursive: true, force: true });
    await lake.stop();
  }
  const header = ['records', 'file', 'DuckDB: time, rows/s, peak RSS', 'Spark local: time (start-up), rows/s, peak RSS', 'Spark time / DuckDB time'];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  console.log(`\nraw → curated, source A, DuckDB vs local Spark (npm run bench:spark -- ${argv.join(' ')})`.trimEnd());
  for (const r of [header, ...rows]) console.log(`  ${r.map((v, c) => v.padEnd(widths[c] ?? 0)).join('  ')}`);
  // Other work on the machine skews every figure: the load average says how much there was.
  console.log(`  machine: ${cpus().length} cores; 1-min load average ${loadAtStart.toFixed(2)} at start, ${(loadavg()[0] ?? 0).toFixed(2)} at end`);
}

const childRequest = process.env[CHILD_ENV];
if (childRequest) await childMain(JSON.parse(childRequest) as ChildRequest);
else await main(process.argv.slice(2));
