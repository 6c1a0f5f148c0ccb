/**
 * Raw → curated for source A: how fast, next to DuckDB's own JSON → Parquet, and how much
 * memory a big delivery takes.
 *
 *   npx tsx bench/raw-to-curated.ts [--records 5000000] [--big-file-gb 4] [--repeat 1]
 *                                   [--malformed-rate 0.001] [--child-memory-limit 1GB]
 *   npm run bench:curate -- --records 500000 --big-file-gb 0.5
 *
 * 1. Baseline: DuckDB's `COPY (SELECT * FROM read_json(…)) TO … (FORMAT parquet, COMPRESSION
 *    zstd)` in this process, same DuckDB settings as the lake session.
 * 2. Ours: the curate path as activities/curate.ts runs it (open session, ensure tables,
 *    lib/curate/curate-day.ts: its verdict pass, then publishPartition with the byte scan
 *    alongside the insert, the rejected records and the lineage row, the Iceberg commit
 *    included), split into stage (verdict pass)
 *    / insert / commit.
 * 3. Peak memory: a --big-file-gb file through the raw-zone write and the curate path in
 *    a child process with DUCKDB_MEMORY_LIMIT=--child-memory-limit, its RSS sampled from
 *    /proc/<pid>/status every 200 ms.
 *
 * Files are generated under os.tmpdir() and removed at the end; the lake is a test lake
 * (own REST catalog on a free port, warehouse in a temp folder).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from '../lib/config.ts';
import { curateDay } from '../lib/curate/curate-day.ts';
import { rawFileOnDisk, type RawFileLocation } from '../lib/curate/source-a.ts';
import { writeRawFile } from '../lib/lake/raw.ts';
import { openLakeSession, sqlString } from '../lib/lake/session.ts';
import { ALL_TABLES, ensureTables } from '../lib/lake/tables.ts';
import { createLocalStore } from '../lib/storage/index.ts';
import { addDays } from '../lib/time/days.ts';
import { generateSourceFile, sourceFileName } from '../simulators/files/generate.ts';
import { startTestLake } from '../test/helpers/lake.ts';

const THIS_FILE = fileURLToPath(import.meta.url);
const REPO_ROOT = path.resolve(path.dirname(THIS_FILE), '..');
const CHILD_ENV = 'TEMPOLAKE_BENCH_CHILD';
const LAG_DAYS = 3;
const SAMPLE_MS = 200;

const secs = (ms: number): string => (ms / 1000).toFixed(2);
const perSec = (n: number, ms: number): string => Math.round(n / (ms / 1000)).toLocaleString('en-US');
const mb = (bytes: number): string => (bytes / 1e6).toFixed(0);

interface CurateTiming {
  /** openLakeSession (extensions, ATTACH) + ensureTables. */
  setupMs: number;
  /** curateDay up to publishing: for A, the verdict pass (which rows the reader fails). */
  stageMs: number;
  /** BEGIN … the DELETE and the INSERTs into curated, rejected and lineage (data files written), until just before COMMIT. */
  insertMs: number;
  /** The Iceberg catalog commit. */
  commitMs: number;
  rows: number;
  rejected: number;
}

/**
 * The curate path of activities/curate.ts (lib/curate/curate-day.ts) for one source A
 * file, timed by phase through its progress and beforeCommit hooks.
 */
async function curateSourceA(config: Config, opts: { file: RawFileLocation; ingestDay: string; mark?: (phase: string) => void }): Promise<CurateTiming> {
  const mark = opts.mark ?? ((): void => undefined);
  const t0 = performance.now();
  const session = await openLakeSession(config);
  try {
    // curateDay ensures the tables itself; done here first so its time is not counted as staging.
    await ensureTables(session, ALL_TABLES);
    const t1 = performance.now();
    mark('stage');
    let t2 = t1;
    let t3 = t1;
    const result = await curateDay(session, {
      def: { id: 'source_a', lagDays: LAG_DAYS },
      ingestDay: opts.ingestDay,
      files: [opts.file],
      lineage: { workflowId: `bench:source_a:${opts.ingestDay}`, runId: 'bench', inputs: [{ key: opts.file.rawKey, sha256: '' }] },
      progress: (step) => {
        if (!step.startsWith('publishing')) return;
        t2 = performance.now();
        mark('publish');
      },
      publish: {
        beforeCommit: async () => {
          t3 = performance.now();
          mark('commit');
        },
      },
    });
    const t4 = performance.now();
    return { setupMs: t1 - t0, stageMs: t2 - t1, insertMs: t3 - t2, commitMs: t4 - t3, rows: result.rows, rejected: result.rejected };
  } finally {
    session.close();
  }
}

/** DuckDB's own newline-delimited JSON → zstd Parquet, same memory limit and threads as the lake session. */
async function baseline(config: Config, file: string, out: string): Promise<{ ms: number; rows: number; bytes: number }> {
  const session = await openLakeSession(config, { attach: false });
  try {
    const t0 = performance.now();
    // ignore_errors: the file carries the malformed lines the curate path rejects; read_json would stop at the first.
    await session.run(
      `COPY (SELECT * FROM read_json(${sqlString(file)}, format = 'newline_delimited', ignore_errors = true)) TO ${sqlString(out)} (FORMAT parquet, COMPRESSION zstd)`,
    );
    const ms = performance.now() - t0;
    const [r] = await session.rows<{ n: string }>(`SELECT count(*) AS n FROM read_parquet(${sqlString(out)})`);
    return { ms, rows: Number(r?.n ?? 0), bytes: (await stat(out)).size };
  } finally {
    session.close();
  }
}

// ---------------------------------------------------------------- the child of part 3

interface ChildRequest {
  file: string;
  ingestDay: string;
  rawRoot: string;
}

type ChildMessage =
  | { kind: 'phase'; phase: string }
  | { kind: 'raw'; ms: number; key: string; bytes: number }
  | { kind: 'done'; timing: CurateTiming; maxRssKb: number; memoryLimit: string };

/** Raw-zone write and curate path of one big file; reports its phases on stdout as JSON lines. */
async function childMain(request: ChildRequest): Promise<void> {
  const send = (m: ChildMessage): void => void process.stdout.write(`${JSON.stringify(m)}\n`);
  const config = loadConfig();
  const store = createLocalStore(request.rawRoot);
  send({ kind: 'phase', phase: 'raw' });
  const t0 = performance.now();
  const raw = await writeRawFile(store, {
    source: 'source_a',
    day: request.ingestDay,
    fileName: path.basename(request.file),
    content: { localPath: request.file },
    origin: `file://${request.file}`,
    fetchedAt: new Date().toISOString(),
  });
  send({ kind: 'raw', ms: performance.now() - t0, key: raw.key, bytes: raw.size });
  send({ kind: 'phase', phase: 'setup' });
  const timing = await curateSourceA(config, {
    file: { location: store.locationOf(raw.key), rawKey: raw.key, open: () => store.get(raw.key) },
    ingestDay: request.ingestDay,
    mark: (phase) => send({ kind: 'phase', phase }),
  });
  send({ kind: 'phase', phase: 'end' });
  send({ kind: 'done', timing, maxRssKb: process.resourceUsage().maxRSS, memoryLimit: config.duckdbMemoryLimit });
}

interface ChildReport {
  rawMs: number;
  timing: CurateTiming;
  /** Highest VmRSS sampled, per phase and overall, in kB. */
  peakRssKb: Record<string, number>;
  /** Last VmHWM read before the child exited (the kernel's own peak), kB. */
  hwmKb: number;
  /** The child's own getrusage maxRSS, kB. */
  selfMaxRssKb: number;
  samples: number;
  memoryLimit: string;
}

function procStatusKb(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { rss: field('VmRSS'), hwm: field('VmHWM') };
  } catch {
    return undefined;
  }
}

/** Runs part 3 in a child node process (its own RSS), sampling /proc/<pid>/status. */
async function runChild(lakeConfig: Config, lakeDir: string, request: ChildRequest, memoryLimit: string): Promise<ChildReport> {
  const child = spawn(process.execPath, ['--import', 'tsx', THIS_FILE], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...process.env,
      [CHILD_ENV]: JSON.stringify(request),
      TEMPOLAKE_DATA_DIR: lakeDir,
      LAKE_STORAGE: 'local',
      LAKE_LOCAL_ROOT: lakeConfig.lakeLocalRoot,
      ICEBERG_CATALOG_URL: lakeConfig.icebergCatalogUrl.toString(),
      ICEBERG_CATALOG_JDBC_URI: lakeConfig.icebergCatalogJdbcUri,
      DUCKDB_MEMORY_LIMIT: memoryLimit,
    },
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start the child process');
  let phase = 'start';
  const peakRssKb: Record<string, number> = {};
  let hwmKb = 0;
  let samples = 0;
  const sample = (): void => {
    const s = procStatusKb(pid);
    if (!s) return;
    samples++;
    peakRssKb[phase] = Math.max(peakRssKb[phase] ?? 0, s.rss);
    peakRssKb['all'] = Math.max(peakRssKb['all'] ?? 0, s.rss);
    hwmKb = Math.max(hwmKb, s.hwm);
  };
  const timer = setInterval(sample, SAMPLE_MS);
  let rawMs = 0;
  let done: Extract<ChildMessage, { kind: 'done' }> | undefined;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  for await (const line of createInterface({ input: child.stdout })) {
    let m: ChildMessage;
    try {
      m = JSON.parse(line) as ChildMessage;
    } catch {
      console.log(`  child: ${line}`);
      continue;
    }
    if (m.kind === 'phase') {
      sample();
      phase = m.phase;
      process.stdout.write(`  child ${(performance.now() / 1000).toFixed(1)} s: ${phase}\n`);
    } else if (m.kind === 'raw') rawMs = m.ms;
    else done = m;
  }
  const code = await exited;
  clearInterval(timer);
  if (code !== 0 || !done) throw new Error(`the child process exited with ${code}`);
  return { rawMs, timing: done.timing, peakRssKb, hwmKb, selfMaxRssKb: done.maxRssKb, samples, memoryLimit: done.memoryLimit };
}

// ---------------------------------------------------------------- main

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      records: { type: 'string', default: '5000000' },
      'big-file-gb': { type: 'string', default: '4' },
      repeat: { type: 'string', default: '1' },
      'malformed-rate': { type: 'string', default: '0.001' },
      'child-memory-limit': { type: 'string', default: '1GB' },
    },
  });
  const records = Number(values.records);
  const bigGb = Number(values['big-file-gb']);
  const repeat = Number(values.repeat);
  const malformedRate = Number(values['malformed-rate']);
  if (!Number.isSafeInteger(records) || records < 1) throw new RangeError(`--records must be a whole number ≥ 1, got ${values.records}`);
  if (!(bigGb >= 0)) throw new RangeError(`--big-file-gb must be ≥ 0, got ${values['big-file-gb']}`);
  if (!Number.isSafeInteger(repeat) || repeat < 1) throw new RangeError(`--repeat must be ≥ 1, got ${values.repeat}`);

  const loadAtStart = loadavg()[0] ?? 0;
  console.log(`machine: ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const work = await mkdtemp(path.join(tmpdir(), 'tempolake-bench-'));
  const lake = await startTestLake();
  const config = lake.config;
  console.log(`lake: catalog ${config.icebergCatalogUrl}, warehouse under ${lake.dir}; DuckDB memory_limit ${config.duckdbMemoryLimit}`);
  const figures: [string, string][] = [];
  try {
    // ---- the input
    const ingestDay = '2021-10-04';
    const file = path.join(work, sourceFileName('a', ingestDay));
    const gen = await generateSourceFile({ source: 'a', day: ingestDay, records, malformedRate, seed: 'bench', out: file });
    const bad = Object.values(gen.malformed).reduce((a, b) => a + b, 0);
    console.log(`input: ${records.toLocaleString('en-US')} records (${bad} malformed), ${mb(gen.bytes)} MB, generated in ${secs(gen.elapsedMs)} s`);
    figures.push(['input', `${records.toLocaleString('en-US')} records, ${mb(gen.bytes)} MB jsonl`]);

    // ---- 1 and 2, alternating when repeated so neither gets all the warm caches. Each run of
    // ours publishes a day of its own (a first publish); one more run then re-publishes the
    // last day, as a re-run or a changed re-delivery does: its DELETE has rows to remove.
    const baselines: Awaited<ReturnType<typeof baseline>>[] = [];
    const ours: CurateTiming[] = [];
    const oursLine = (label: string, o: CurateTiming): string => {
      const total = o.stageMs + o.insertMs + o.commitMs;
      return (
        `${label}: ${secs(total)} s, ${perSec(records, total)} rows/s (setup ${secs(o.setupMs)} s, stage ${secs(o.stageMs)} s, ` +
        `insert ${secs(o.insertMs)} s, commit ${secs(o.commitMs)} s; ${o.rows} rows, ${o.rejected} rejected)`
      );
    };
    const rawKeyOf = (day: string): string => `raw/source_a/day=${day}/${path.basename(file)}`;
    for (let i = 0; i < repeat; i++) {
      const b = await baseline(config, file, path.join(work, 'baseline.parquet'));
      await rm(path.join(work, 'baseline.parquet'), { force: true });
      baselines.push(b);
      console.log(`baseline ${i + 1}: ${secs(b.ms)} s, ${perSec(records, b.ms)} rows/s (${b.rows.toLocaleString('en-US')} rows, ${mb(b.bytes)} MB parquet)`);
      const day = addDays(ingestDay, i);
      const o = await curateSourceA(config, { file: rawFileOnDisk(file, rawKeyOf(day)), ingestDay: day });
      ours.push(o);
      console.log(oursLine(`ours ${i + 1}`, o));
    }
    const lastDay = addDays(ingestDay, repeat - 1);
    const replace = await curateSourceA(config, { file: rawFileOnDisk(file, rawKeyOf(lastDay)), ingestDay: lastDay });
    console.log(oursLine('ours, re-publish (replace)', replace));
    const b = baselines.reduce((x, y) => (y.ms < x.ms ? y : x));
    const o = ours.reduce((x, y) => (y.stageMs + y.insertMs + y.commitMs < x.stageMs + x.insertMs + x.commitMs ? y : x));
    const oursMs = o.stageMs + o.insertMs + o.commitMs;
    const replaceMs = replace.stageMs + replace.insertMs + replace.commitMs;
    const ratio = b.ms / oursMs;
    figures.push(
      ['baseline (read_json → zstd parquet)', `${secs(b.ms)} s, ${perSec(records, b.ms)} rows/s`],
      ['ours, first publish of a day', `${secs(oursMs)} s, ${perSec(records, oursMs)} rows/s`],
      ['  stage (verdict pass, before the publish)', `${secs(o.stageMs)} s`],
      ['  publish (DELETE + INSERTs ∥ byte scan)', `${secs(o.insertMs)} s`],
      ['  commit (Iceberg catalog commit)', `${secs(o.commitMs)} s`],
      ['  session open + ensureTables (not in total)', `${secs(o.setupMs)} s`],
      ['ours / baseline (rows/s)', `${ratio.toFixed(2)}× (target ≥ 0.80×)${ratio < 0.8 ? '  BELOW TARGET' : ''}`],
      ['ours, re-publish replacing the day', `${secs(replaceMs)} s, ${perSec(records, replaceMs)} rows/s (publish ${secs(replace.insertMs)} s), ${(b.ms / replaceMs).toFixed(2)}×`],
    );
    if (repeat > 1) {
      const spread = (xs: number[]): string => `${secs(Math.min(...xs))}–${secs(Math.max(...xs))} s`;
      figures.push(['spread over --repeat runs', `baseline ${spread(baselines.map((x) => x.ms))}, ours ${spread(ours.map((x) => x.stageMs + x.insertMs + x.commitMs))}`]);
    }

    // ---- 3: a big file in a child process
    if (bigGb > 0) {
      const bigDay = '2021-11-04';
      const bigFile = path.join(work, 'big', sourceFileName('a', bigDay));
      const bigRecords = Math.max(1, Math.round((bigGb * 1e9) / (gen.bytes / records)));
      const big = await generateSourceFile({ source: 'a', day: bigDay, records: bigRecords, malformedRate, seed: 'bench-big', out: bigFile });
      console.log(`big file: ${bigRecords.toLocaleString('en-US')} records, ${(big.bytes / 1e9).toFixed(2)} GB, generated in ${secs(big.elapsedMs)} s`);
      const memoryLimit = values['child-memory-limit'];
      const rep = await runChild(config, lake.dir, { file: bigFile, ingestDay: bigDay, rawRoot: path.join(work, 'raw-store') }, memoryLimit);
      await rm(path.join(work, 'big'), { recursive: true, force: true });
      await rm(path.join(work, 'raw-store'), { recursive: true, force: true });
      const t = rep.timing;
      const total = t.stageMs + t.insertMs + t.commitMs;
      const peak = (p: string): string => `${((rep.peakRssKb[p] ?? 0) / 1024).toFixed(0)} MB`;
      figures.push(
        ['big file', `${(big.bytes / 1e9).toFixed(2)} GB, ${bigRecords.toLocaleString('en-US')} records`],
        ['  child DUCKDB_MEMORY_LIMIT', rep.memoryLimit],
        ['  raw-zone write (sha256 + copy)', `${secs(rep.rawMs)} s, peak RSS ${peak('raw')}`],
        ['  curate: stage', `${secs(t.stageMs)} s, peak RSS ${peak('stage')}`],
        ['  curate: publish + commit', `${secs(t.insertMs + t.commitMs)} s, peak RSS ${((Math.max(rep.peakRssKb['publish'] ?? 0, rep.peakRssKb['commit'] ?? 0)) / 1024).toFixed(0)} MB`],
        ['  curate rows/s', `${perSec(bigRecords, total)} (${t.rows} rows, ${t.rejected} rejected)`],
        ['  peak RSS (sampled / VmHWM / getrusage)', `${peak('all')} / ${(rep.hwmKb / 1024).toFixed(0)} MB / ${(rep.selfMaxRssKb / 1024).toFixed(0)} MB  (${rep.samples} samples)`],
      );
    }
  } finally {
    await rm(work, { recursive: true, force: true });
    await lake.stop();
  }
  // Other work on the machine skews every figure: the load average says how much there was.
  figures.push(['machine', `${cpus().length} cores; 1-min load average ${loadAtStart.toFixed(2)} at start, ${(loadavg()[0] ?? 0).toFixed(2)} at end`]);
  const width = Math.max(...figures.map(([k]) => k.length));
  console.log(`\nraw → curated, source A (npx tsx bench/raw-to-curated.ts ${argv.join(' ')})`.trimEnd());
  for (const [k, v] of figures) console.log(`  ${k.padEnd(width)}  ${v}`);
}

const childRequest = process.env[CHILD_ENV];
if (childRequest) await childMain(JSON.parse(childRequest) as ChildRequest);
else await main(process.argv.slice(2));
