/**
 * Deterministic delivery files for sources A and B: same options, same bytes (seeded PRNG,
 * no clock, no Math.random). Files are streamed to disk, so any size fits in memory.
 *
 *   npx tsx simulators/files/generate.ts --source a --day 2021-10-04 --records 100000 --format jsonl --out DIR_OR_FILE
 *     [--seed S] [--malformed-rate 0.001] [--customers 50000]   (A)
 *     [--no-timestamp]                                          (B: leave out updated_at)
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { expandFilePattern } from '../../lib/sources/file-source.ts';
import { writeSourceA, type SourceAFormat } from './source-a.ts';
import { writeSourceB } from './source-b.ts';
import { writeTextFile } from './text-file-writer.ts';
import { assertDay } from '../../lib/time/days.ts';

export type SourceLetter = 'a' | 'b';
export type FileFormat = SourceAFormat;

/**
 * File names as the sources deliver them, in the `{date}` pattern syntax of
 * `FileSourceSpec.pattern`: configure a source with these and it finds the simulator's files.
 */
export const SOURCE_FILE_PATTERNS = {
  a: { jsonl: 'activity_{date}.jsonl', csv: 'activity_{date}.csv' },
  b: { csv: 'customers_{date}.csv' },
} as const;

/** `activity_2021-10-04.jsonl`, `activity_2021-10-04.csv` or `customers_2021-10-04.csv`. */
export function sourceFileName(source: SourceLetter, day: string, format: FileFormat = source === 'a' ? 'jsonl' : 'csv'): string {
  if (source === 'b' && format !== 'csv') throw new RangeError('source B is delivered as csv only');
  const pattern = source === 'a' ? SOURCE_FILE_PATTERNS.a[format] : SOURCE_FILE_PATTERNS.b.csv;
  return expandFilePattern(pattern, assertDay(day));
}

export interface GenerateOptions {
  readonly source: SourceLetter;
  /** Delivery day, YYYY-MM-DD. */
  readonly day: string;
  /** A: events; B: customers. */
  readonly records: number;
  /** Target file. */
  readonly out: string;
  /** A: jsonl (default) or csv; B: csv. */
  readonly format?: FileFormat;
  /** Default `tempolake`. */
  readonly seed?: string | number;
  /** Share of malformed lines, 0..1; default 0. */
  readonly malformedRate?: number;
  /** B only: include `updated_at`; default true. */
  readonly withTimestamp?: boolean;
  /** A only: customer pool size; default 50,000 (match B's record count to join them). */
  readonly customers?: number;
}

export interface GenerateResult {
  readonly path: string;
  readonly records: number;
  readonly bytes: number;
  /** Malformed lines written, by kind. */
  readonly malformed: Readonly<Record<string, number>>;
  readonly elapsedMs: number;
}

function assertCount(n: number, what: string, min: number): number {
  if (!Number.isSafeInteger(n) || n < min) throw new RangeError(`${what} must be a whole number ≥ ${min}, got ${n}`);
  return n;
}

/** Writes one delivery file (through a temp file, renamed into place when complete). */
export async function generateSourceFile(opts: GenerateOptions): Promise<GenerateResult> {
  const day = assertDay(opts.day);
  const records = assertCount(opts.records, 'records', 0);
  const seed = opts.seed ?? 'tempolake';
  const malformedRate = opts.malformedRate ?? 0;
  if (!(malformedRate >= 0 && malformedRate <= 1)) throw new RangeError(`malformedRate must be within 0..1, got ${malformedRate}`);
  const started = performance.now();
  let malformed: Record<string, number> = {};

  const { bytes } = await writeTextFile(opts.out, async (writer) => {
    if (opts.source === 'a') {
      const format = opts.format ?? 'jsonl';
      const customers = assertCount(opts.customers ?? 50_000, 'customers', 1);
      malformed = await writeSourceA({ day, records, format, seed, malformedRate, customers }, writer);
    } else {
      if ((opts.format ?? 'csv') !== 'csv') throw new RangeError('source B is delivered as csv only');
      malformed = await writeSourceB({ day, records, seed, malformedRate, withTimestamp: opts.withTimestamp ?? true }, writer);
    }
  });
  return { path: opts.out, records, bytes, malformed, elapsedMs: performance.now() - started };
}

async function isDirectory(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      source: { type: 'string' },
      day: { type: 'string' },
      records: { type: 'string', default: '100000' },
      format: { type: 'string' },
      out: { type: 'string' },
      seed: { type: 'string' },
      'malformed-rate': { type: 'string', default: '0' },
      customers: { type: 'string' },
      'no-timestamp': { type: 'boolean', default: false },
    },
  });
  const source = values.source?.toLowerCase();
  if ((source !== 'a' && source !== 'b') || !values.day || !values.out) {
    console.error('usage: generate.ts --source a|b --day YYYY-MM-DD --out FILE_OR_DIR [--records N] [--format jsonl|csv] [--seed S] [--malformed-rate R] [--customers N] [--no-timestamp]');
    return 2;
  }
  const format = values.format ?? (source === 'a' ? 'jsonl' : 'csv');
  if (format !== 'jsonl' && format !== 'csv') throw new RangeError(`--format must be jsonl or csv, got "${format}"`);
  const out = (await isDirectory(values.out)) || values.out.endsWith('/') ? path.join(values.out, sourceFileName(source, values.day, format)) : values.out;
  const result = await generateSourceFile({
    source,
    day: values.day,
    records: Number(values.records),
    out,
    format,
    seed: values.seed,
    malformedRate: Number(values['malformed-rate']),
    withTimestamp: !values['no-timestamp'],
    customers: values.customers === undefined ? undefined : Number(values.customers),
  });
  const seconds = result.elapsedMs / 1000;
  const bad = Object.entries(result.malformed).filter(([, n]) => n > 0);
  console.log(
    `${result.path}: ${result.records} records, ${(result.bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(2)} s ` +
      `(${Math.round(result.records / seconds)} records/s, ${(result.bytes / 1e6 / seconds).toFixed(0)} MB/s)` +
      (bad.length > 0 ? `; malformed: ${bad.map(([k, n]) => `${k}=${n}`).join(', ')}` : ''),
  );
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
