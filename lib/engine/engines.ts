/**
 * Which engine runs a transform. DuckDB in the worker is the embedded default; Spark is what
 * a team switches to when one worker's memory or time is not enough — `spark` (the local
 * spark-submit: one big machine, and the tests) or `spark-k8s` (a SparkApplication on
 * Kubernetes). `auto` picks Spark for inputs above ENGINE_AUTO_SPARK_BYTES. Same transforms,
 * same Iceberg tables, same result: the parity tests hold the engines to it.
 *
 * Pure (no I/O, no config import at run time): the config module parses ENGINE and
 * ENGINE_OVERRIDES with these functions, and workflows may import the names.
 */

export const ENGINES = ['duckdb', 'spark', 'spark-k8s'] as const;
export type Engine = (typeof ENGINES)[number];
export type EngineSetting = Engine | 'auto';
export const ENGINE_SETTINGS: readonly EngineSetting[] = [...ENGINES, 'auto'];

/**
 * The transforms that exist on every engine (the Spark jobs under deploy/spark/jobs carry
 * these names). `maintain_tables` on `duckdb` means in the worker: the Iceberg Java tool,
 * which expires snapshots and removes orphans; on Spark it also compacts (rewrite_data_files).
 */
export const TRANSFORMS = ['curate_source_a', 'curate_source_b', 'compact_market_hour', 'weather_daily', 'weather_rolling', 'market_daily', 'region_trend', 'maintain_tables'] as const;
export type Transform = (typeof TRANSFORMS)[number];

export class EngineSettingError extends Error {
  override name = 'EngineSettingError';
}

export function parseEngineSetting(raw: string, name: string): EngineSetting {
  if (!(ENGINE_SETTINGS as readonly string[]).includes(raw)) throw new EngineSettingError(`${name} must be one of ${ENGINE_SETTINGS.join(', ')}, got "${raw}"`);
  return raw as EngineSetting;
}

/** `curate_source_a=spark-k8s,weather_daily=duckdb` → a map; unknown transforms and engines are refused. */
export function parseEngineOverrides(raw: string, name: string): Readonly<Partial<Record<Transform, EngineSetting>>> {
  const out: Partial<Record<Transform, EngineSetting>> = {};
  for (const part of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z_]+)=([a-z0-9-]+)$/.exec(part);
    if (!m) throw new EngineSettingError(`${name}: "${part}" is not transform=engine`);
    const [, transform, engine] = m as unknown as [string, string, string];
    if (!(TRANSFORMS as readonly string[]).includes(transform)) throw new EngineSettingError(`${name}: unknown transform "${transform}" (known: ${TRANSFORMS.join(', ')})`);
    out[transform as Transform] = parseEngineSetting(engine, `${name} (${transform})`);
  }
  return out;
}

export interface EngineChoiceSettings {
  readonly engine: EngineSetting;
  readonly engineOverrides: Readonly<Partial<Record<Transform, EngineSetting>>>;
  readonly engineAutoSparkBytes: number;
  readonly engineAutoSpark: Engine;
}

export interface EngineChoice {
  readonly engine: Engine;
  /** Why, for logs and the activity's result: `ENGINE=spark`, `auto: 5.2 GB ≥ 4 GB`. */
  readonly reason: string;
}

const gb = (bytes: number): string => `${(bytes / 1e9).toFixed(1)} GB`;

/**
 * The engine for one run of `transform`. `inputBytes` is what the run reads when the caller
 * knows it (raw files); unknown sizes make `auto` stay on DuckDB.
 */
export function chooseEngine(settings: EngineChoiceSettings, transform: Transform, inputBytes?: number): EngineChoice {
  const override = settings.engineOverrides[transform];
  const setting = override ?? settings.engine;
  const source = override ? `ENGINE_OVERRIDES ${transform}=${override}` : `ENGINE=${settings.engine}`;
  if (setting !== 'auto') return { engine: setting, reason: source };
  if (inputBytes === undefined) return { engine: 'duckdb', reason: `${source}: input size unknown` };
  return inputBytes >= settings.engineAutoSparkBytes
    ? { engine: settings.engineAutoSpark, reason: `${source}: ${gb(inputBytes)} ≥ ${gb(settings.engineAutoSparkBytes)}` }
    : { engine: 'duckdb', reason: `${source}: ${gb(inputBytes)} < ${gb(settings.engineAutoSparkBytes)}` };
}

/**
 * The `Engine` search attribute of a run: its engine, or the distinct engines of its steps
 * in a fixed order (`duckdb,spark-k8s`) when ENGINE_OVERRIDES split them.
 */
export function engineAttribute(engines: readonly Engine[]): string {
  const used = ENGINES.filter((e) => engines.includes(e));
  return used.length > 0 ? used.join(',') : 'duckdb';
}
