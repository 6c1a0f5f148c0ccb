/**
 * What the Spark parity tests share: deterministic numbers, row sets compared keyed (bit for bit,
 * or within a relative tolerance where an engine's summation order is its own), and a runner of
 * the deploy/spark/jobs scripts that reports each job's timings.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { Config } from '../../lib/config.ts';
import { runSparkJob } from '../../lib/spark/submit.ts';

export type Row = Record<string, unknown>;

/** Deterministic numbers (mulberry32): the same lake on every run. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Compare {
  /** Columns that identify a row (unique in both sets). */
  readonly key: readonly string[];
  /** Columns compared with this relative tolerance instead of bit for bit. */
  readonly approx?: Readonly<Record<string, number>>;
  /** Rows where the tolerance applies (default: every row). */
  readonly approxWhere?: (row: Row) => boolean;
}

/** Values of an approx column that differed at all, per column (what the tolerance absorbed). */
export type Drift = Record<string, { differing: number; maxRelative: number }>;

const keyOf = (row: Row, key: readonly string[]): string => JSON.stringify(key.map((k) => row[k]));

function close(a: unknown, b: unknown, rel: number): boolean {
  if (a === b) return true;
  if (typeof a !== 'number' || typeof b !== 'number') return false;
  return Math.abs(a - b) <= rel * Math.max(1, Math.abs(a), Math.abs(b));
}

/** Asserts two row sets are equal (as sets, keyed), returning how much the tolerated columns drifted. */
export function assertSameRows(what: string, spark: readonly Row[], duck: readonly Row[], opts: Compare): Drift {
  const index = (rows: readonly Row[], engine: string): Map<string, Row> => {
    const m = new Map<string, Row>();
    for (const r of rows) {
      const k = keyOf(r, opts.key);
      assert.ok(!m.has(k), `${what}: ${engine} has two rows with key ${k}`);
      m.set(k, r);
    }
    return m;
  };
  const s = index(spark, 'Spark');
  const d = index(duck, 'DuckDB');
  assert.deepEqual([...s.keys()].sort(), [...d.keys()].sort(), `${what}: the engines' rows have different keys`);
  const drift: Drift = {};
  for (const [k, sr] of s) {
    const dr = d.get(k) as Row;
    assert.deepEqual(Object.keys(sr), Object.keys(dr), `${what}: columns differ`);
    for (const column of Object.keys(sr)) {
      const tol = opts.approx?.[column];
      const a = sr[column];
      const b = dr[column];
      if (tol !== undefined && (opts.approxWhere?.(sr) ?? true)) {
        assert.ok(close(a, b, tol), `${what} ${k} ${column}: Spark ${String(a)} vs DuckDB ${String(b)} (beyond ${tol} relative)`);
        const entry = (drift[column] ??= { differing: 0, maxRelative: 0 });
        if (a !== b && typeof a === 'number' && typeof b === 'number') {
          entry.differing++;
          entry.maxRelative = Math.max(entry.maxRelative, Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b)));
        }
      } else {
        assert.deepEqual(a, b, `${what} ${k} ${column}: Spark ${JSON.stringify(a)} vs DuckDB ${JSON.stringify(b)}`);
      }
    }
  }
  return drift;
}

export function reportDrift(t: TestContext, what: string, drift: Drift): void {
  const parts = Object.entries(drift).map(([c, v]) => `${c} ${v.differing} (max ${v.maxRelative.toExponential(1)})`);
  t.diagnostic(`${what}: values that differed in the last bits: ${parts.length ? parts.join(', ') : 'none'}`);
}


/**
 * Runs a job script of deploy/spark/jobs with `--input <json>` on the local Spark, returning its
 * result; its timings and `tempolake:` log lines become the test's diagnostics, its log's tail
 * too when it fails. `confDir`: a SPARK_CONF_DIR (spark-defaults.conf for the test's settings).
 */
export function sparkJobRunner(config: Config, confDir: string, jobTimes: string[]) {
  return async <T = Row>(t: TestContext, script: string, input: unknown): Promise<T> => {
  const logged: string[] = [];
  const t0 = Date.now();
  try {
    const job = await runSparkJob<T>(config, {
      script,
      args: ['--input', JSON.stringify(input)],
      env: { SPARK_CONF_DIR: confDir },
      onProgress: (l) => logged.push(l),
    });
    jobTimes.push(`${script} ${((Date.now() - t0) / 1000).toFixed(1)} s (job ${(job.timing.jobMs / 1000).toFixed(1)} s)`);
    t.diagnostic(`${script}: ${job.timing.totalMs} ms (JVM ${job.timing.jvmStartMs}, session ${job.timing.sessionStartMs}, job ${job.timing.jobMs})`);
    for (const l of logged.filter((l) => l.startsWith('tempolake: '))) t.diagnostic(l);
    return job.result;
  } catch (err) {
    for (const l of logged.slice(-40)) t.diagnostic(`log: ${l}`);
    throw err;
  }
  };
}
