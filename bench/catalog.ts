/**
 * How long the partition catalog takes over 15 years of every dataset: about 50,000 dataset
 * days, on the local lake and on MinIO.
 *
 *   npm run bench:catalog -- [--years 15] [--storage local,s3] [--repeat 3] [--keep DIR] [--compact]
 *
 * --keep DIR keeps the filled lakes under DIR and reuses them next time (filling takes minutes);
 * each run still adds its "one more publish". --compact then runs the daily maintenance with its
 * compaction (the worker's Java tool) and builds cold again: a kept lake stays compacted.
 *
 * The lake is filled with metadata-shaped data: a small raw file per day for A and D (an hour
 * folder per day for D) and per 14 days for B, and for each curated/operational table one row
 * per day written in a few commits (one data file per day partition) with a lineage row per
 * day naming its raw input and checksum, as the real publishes do. Then the catalog is built
 * three ways: cold (no cache: every sidecar and manifest read), warm (caches, nothing new), and
 * after one more publish (warm caches, one new manifest and the lineage re-read). Printed:
 * seconds for each, dataset days evaluated, and what was read.
 */
import { createHash } from 'node:crypto';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cpus, loadavg } from 'node:os';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createMaintenanceActivities, type TableMaintenanceResult } from '../activities/maintenance.ts';
import { buildCatalog } from '../lib/catalog/build.ts';
import { createKubeConfig } from '../lib/clients/kubernetes.ts';
import { createS3Client } from '../lib/clients/s3.ts';
import type { Config } from '../lib/config.ts';
import { writeRawFile } from '../lib/lake/raw.ts';
import { openLakeSession, type LakeSession } from '../lib/lake/session.ts';
import { createLakeStore } from '../lib/lake/store.ts';
import { ALL_TABLES, ensureTables } from '../lib/lake/tables.ts';
import { MARKET_TABLES } from '../lib/market/tables.ts';
import type { ObjectStore } from '../lib/storage/object-store.ts';
import { addDays, daysBetween } from '../lib/time/days.ts';
import { WEATHER_TABLES } from '../lib/weather/tables.ts';
import { startTestLake } from '../test/helpers/lake.ts';

const secs = (ms: number): string => (ms / 1000).toFixed(2);
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

async function mapBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await fn(items[next++] as T);
  }));
}

/** One raw file per day (B: per 14 days; D: one hour folder per day); returns each day's key and checksum. */
async function fillRaw(store: ObjectStore, source: string, days: readonly string[], hourly: boolean): Promise<Map<string, { key: string; sha256: string }>> {
  const out = new Map<string, { key: string; sha256: string }>();
  await mapBounded(days, 32, async (day) => {
    const text = `{"source":"${source}","day":"${day}"}\n`;
    const f = await writeRawFile(store, {
      source,
      day,
      ...(hourly ? { hour: 12 } : {}),
      fileName: `${source}_${day}.jsonl`,
      content: { bytes: Buffer.from(text) },
      origin: 'bench://catalog',
      fetchedAt: `${day}T06:00:00.000Z`,
    });
    out.set(day, { key: f.key, sha256: sha(text) });
  });
  return out;
}

const sqlList = (rows: readonly string[]): string => rows.join(',\n');

/** One row per day into `table` (a data file per day partition) and a lineage row per day, in chunks of a year. */
async function fillTable(
  session: LakeSession,
  table: string,
  days: readonly string[],
  rowOf: (day: string) => string,
  scopeOf: (day: string) => string,
  inputsOf: (day: string) => { key: string; sha256: string }[],
): Promise<void> {
  for (let i = 0; i < days.length; i += 366) {
    const chunk = days.slice(i, i + 366);
    await session.run(`INSERT INTO lake.${table} VALUES ${sqlList(chunk.map(rowOf))}`);
    await session.run(
      `INSERT INTO lake.lineage.commits VALUES ${sqlList(
        chunk.map(
          (d) => `('${table}', '${scopeOf(d)}', DATE '${d}', 'bench:${table}:${d}', 'bench', '${JSON.stringify(inputsOf(d))}', 1, 0, TIMESTAMPTZ '${addDays(d, 3)} 12:00:00+00')`,
        ),
      )}`,
    );
  }
}

async function fillLake(config: Config, store: ObjectStore, days: readonly string[]): Promise<void> {
  const t0 = performance.now();
  const bDays = days.filter((d) => Math.round(Date.parse(`${d}T00:00:00Z`) / 86_400_000) % 14 === 0);
  const rawA = await fillRaw(store, 'source_a', days, false);
  const rawB = await fillRaw(store, 'source_b', bDays, false);
  await fillRaw(store, 'source_d', days, true);
  console.log(`  raw zone: ${days.length * 2 + bDays.length} files with sidecars in ${secs(performance.now() - t0)} s`);
  const t1 = performance.now();
  const session = await openLakeSession(config);
  try {
    await ensureTables(session, [...ALL_TABLES, ...MARKET_TABLES, ...WEATHER_TABLES]);
    const lagA = config.sourceALagDays;
    const aDays = days.filter((d) => rawA.has(addDays(d, lagA)));
    await fillTable(
      session,
      'curated.source_a',
      aDays,
      (d) => `('e-${d}', 'c1', 'r01', TIMESTAMPTZ '${d} 10:00:00+00', 1.5, 'EUR', 'web', 'ios', NULL, NULL, ['x'], DATE '${d}', DATE '${addDays(d, lagA)}', 'k')`,
      (d) => `day=${d}`,
      (d) => [rawA.get(addDays(d, lagA)) as { key: string; sha256: string }],
    );
    await fillTable(
      session,
      'curated.source_b',
      bDays,
      (d) => `('c-${d}', 'n', 'e', 'r01', 's', DATE '${d}', TIMESTAMPTZ '${d} 05:00:00+00', DATE '${d}', DATE '${d}', 'k', 1)`,
      (d) => `_ingest_day=${d}`,
      (d) => [rawB.get(d) as { key: string; sha256: string }],
    );
    await fillTable(
      session,
      'curated.market_events',
      days,
      (d) => `('m-${d}', 1, 'r01', 'GOLD', 10.0, 2.0, TIMESTAMPTZ '${d} 12:30:00+00', 'LME', 'buy', ['x'], DATE '${d}', 12, 0, 1, 'k')`,
      (d) => `day=${d} hour=12`,
      () => [],
    );
    await fillTable(session, 'operational.market_daily', days, (d) => `('r01', DATE '${d}', 1, 1, 2.0, 10.0, 10.0, 1.0)`, (d) => `day=${d}..${d}`, () => []);
    await fillTable(
      session,
      'curated.weather_observed',
      days,
      (d) => `('r01', TIMESTAMPTZ '${d} 12:00:00+00', 10.0, 50.0, 0.0, 3.0, 1, 'archive', DATE '${d}', 'k')`,
      (d) => `day=${d}..${d} regions=r01`,
      () => [],
    );
    await fillTable(
      session,
      'operational.weather_daily',
      days,
      (d) => `('r01', DATE '${d}', 10.0, 9.0, 11.0, 0.0, 3.0, 4.0, 50.0, 24)`,
      (d) => `day=${d}..${d} regions=r01`,
      () => [],
    );
  } finally {
    session.close();
  }
  console.log(`  tables: 6 tables × ${days.length} days with lineage in ${secs(performance.now() - t1)} s`);
}

/** Builds of each kind after the first (--repeat): warm figures vary with the machine's load. */
let repeat = 1;
/** --compact: run the maintenance's compaction at the end and build cold again (changes a kept lake for good). */
let compact = false;

async function benchOne(storage: 'local' | 's3', years: number, keepDir: string | undefined): Promise<string[]> {
  const dir = keepDir ? path.join(keepDir, `${storage}-${years}y`) : undefined;
  const filledMarker = dir ? path.join(dir, 'filled') : undefined;
  const lake = await startTestLake({ storage, ...(dir ? { dir } : {}) });
  const config = lake.config;
  const store = createLakeStore(config, createS3Client(config));
  const to = '2024-12-31';
  const from = addDays(to, -Math.round(years * 365.25) + 1);
  const days = daysBetween(from, addDays(to, 3));
  try {
    if (filledMarker && existsSync(filledMarker)) {
      console.log(`\n${storage}: the lake ${dir} kept from an earlier run (${years} years, ${from} .. ${to})`);
    } else {
      console.log(`\n${storage}: filling ${years} years (${from} .. ${to})…`);
      await fillLake(config, store, days);
      if (filledMarker) writeFileSync(filledMarker, new Date().toISOString());
    }
    const deps = { config, store, openSession: () => openLakeSession(config) };
    const req = { from, to, now: new Date('2025-02-01T00:00:00Z') };
    const run = async (label: string) => {
      const c = await buildCatalog(deps, req);
      const evaluated = c.datasets.reduce((n, d) => n + d.partitions.length, 0);
      const problems = c.datasets.reduce((n, d) => n + d.counts.missing + d.counts.stale + d.counts.failed, 0);
      const p = c.stats.phasesMs;
      console.log(
        `  ${label}: ${secs(c.stats.ms)} s, ${evaluated.toLocaleString('en-US')} dataset days (${problems} not published), ${c.stats.manifestsRead} manifests read, ` +
          `tables+lineage: ${Object.entries(c.stats.sources).map(([k, n]) => `${n} ${k}`).join(', ')} (raw ${secs(p.raw)} s, tables ${secs(p.tables)} s, lineage ${secs(p.lineage)} s, states ${secs(p.states)} s)`,
      );
      return { label, ms: c.stats.ms, evaluated };
    };
    rmSync(path.join(config.dataDir, 'catalog'), { recursive: true, force: true });
    const cold = await run('cold (no cache)');
    const warm = await run('warm (nothing new)');
    for (let i = 1; i < repeat; i++) await run('warm again');
    const session = await openLakeSession(config);
    // One more publish as the real ones are: a data commit and its lineage row.
    await session.run(`INSERT INTO lake.operational.weather_daily VALUES ('r02', DATE '${to}', 1, 1, 1, 0, 1, 1, 1, 24)`);
    await session.run(
      `INSERT INTO lake.lineage.commits VALUES ('operational.weather_daily', 'day=${to}..${to} regions=r02', DATE '${to}', 'bench:more', 'bench', '[]', 1, 0, TIMESTAMPTZ '2025-01-05 12:00:00+00')`,
    );
    session.close();
    const after = await run('after one more commit');
    for (let i = 1; i < repeat; i++) await run('warm again');
    const row = [storage, cold.evaluated.toLocaleString('en-US'), `${secs(cold.ms)} s`, `${secs(warm.ms)} s`, `${secs(after.ms)} s`];
    if (!compact) return row;
    // The daily maintenance's compaction (the worker's Java tool), then a cold build again.
    const maintenance = createMaintenanceActivities({ config, spark: { config, kube: () => createKubeConfig(config), openLake: () => openLakeSession(config) } });
    const t0 = performance.now();
    const results = (await new MockActivityEnvironment().run(maintenance.maintainLakeTables, { compact: true })) as TableMaintenanceResult[];
    const rewritten = results.reduce((n, r) => n + (r.rewrittenDataFiles ?? 0), 0);
    const added = results.reduce((n, r) => n + (r.addedDataFiles ?? 0), 0);
    console.log(`  maintenance with compaction: ${secs(performance.now() - t0)} s, ${rewritten.toLocaleString('en-US')} small files into ${added.toLocaleString('en-US')}` + (rewritten === 0 ? ' (compacted by an earlier run)' : ''));
    rmSync(path.join(config.dataDir, 'catalog'), { recursive: true, force: true });
    const compactedCold = await run('cold after compaction');
    await run('warm after compaction');
    return [...row, `${secs(compactedCold.ms)} s`];
  } finally {
    await lake.stop();
  }
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      years: { type: 'string', default: '15' },
      storage: { type: 'string', default: 'local,s3' },
      keep: { type: 'string' },
      repeat: { type: 'string', default: '1' },
      compact: { type: 'boolean', default: false },
    },
  });
  compact = values.compact;
  const years = Number(values.years);
  repeat = Math.max(1, Number(values.repeat));
  if (!(years > 0 && years <= 30)) throw new RangeError(`--years must be within 0..30, got ${values.years}`);
  const storages = values.storage.split(',').map((s) => s.trim());
  for (const s of storages) if (s !== 'local' && s !== 's3') throw new RangeError(`--storage takes local and s3, got ${s}`);
  const loadAtStart = loadavg()[0] ?? 0;
  const rows: string[][] = [];
  for (const s of storages) rows.push(await benchOne(s as 'local' | 's3', years, values.keep));
  const header = ['lake', 'dataset days', 'cold', 'warm', 'after a commit', ...(compact ? ['cold after compaction'] : [])];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  console.log(`\npartition catalog over ${years} years of every dataset (npm run bench:catalog -- ${argv.join(' ')})`.trimEnd());
  for (const r of [header, ...rows]) console.log(`  ${r.map((v, i) => v.padEnd(widths[i] ?? 0)).join('  ')}`);
  console.log(`  machine: ${cpus().length} cores; 1-min load average ${loadAtStart.toFixed(2)} at start, ${(loadavg()[0] ?? 0).toFixed(2)} at end`);
}

await main(process.argv.slice(2));
