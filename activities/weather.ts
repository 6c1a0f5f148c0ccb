/**
 * Source C (weather) activities: the regions, fetching answers of the weather API into the
 * raw zone (lake keys and counts go back to the workflow, never values), curating them into
 * Iceberg, and refreshing the operational weather datasets.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Config } from '../lib/config.ts';
import { MalformedFileError } from '../lib/curate/errors.ts';
import type { Lineage } from '../lib/lake/publish.ts';
import { listRawFiles, writeRawFile } from '../lib/lake/raw.ts';
import { openLakeSession, type LakeSession } from '../lib/lake/session.ts';
import type { ObjectStore } from '../lib/storage/object-store.ts';
import { refreshWeatherDaily, refreshWeatherRolling, scopeText } from '../lib/weather/aggregates.ts';
import { chooseEngine, type Engine } from '../lib/engine/engines.ts';
import { upstreamSnapshots } from '../lib/catalog/upstream.ts';
import { runOnSpark, type SparkActivityDeps } from './spark.ts';
import { curateArchive, curateCurrent, curateForecast, type CuratedWeather } from '../lib/weather/curate.ts';
import { WeatherApiError, type WeatherClient } from '../lib/weather/open-meteo.ts';
import { archiveRawFile, hourlyRawFile, type WeatherRawRef } from '../lib/weather/raw-layout.ts';
import { listRegions, readRegionsFile, seedRegions, type Region } from '../lib/weather/regions.ts';

export interface WeatherDeps {
  readonly config: Config;
  readonly store: ObjectStore;
  readonly weather: WeatherClient;
  /** For the Spark engines of weather_daily / weather_rolling. */
  readonly spark: SparkActivityDeps;
}

export interface WeatherRun {
  readonly workflowId: string;
  readonly runId: string;
}

const lineageOf = (run: WeatherRun, files: readonly WeatherRawRef[]): Lineage => ({ ...run, inputs: files.map((f) => ({ key: f.key, sha256: f.sha256 })) });

/** Bad answers and refused requests will not heal by retrying; everything else may. */
function classify(err: unknown): unknown {
  if (err instanceof MalformedFileError) return ApplicationFailure.nonRetryable(err.message, 'MalformedFile');
  if (err instanceof WeatherApiError && !err.retryable) return ApplicationFailure.nonRetryable(err.message, err.name);
  return err;
}

async function withLake<T>(config: Config, work: (session: LakeSession) => Promise<T>): Promise<T> {
  const session = await openLakeSession(config);
  try {
    return await work(session);
  } catch (err) {
    throw classify(err);
  } finally {
    session.close();
  }
}

export function createWeatherActivities(deps: WeatherDeps) {
  const heartbeat = (details: unknown): void => {
    try {
      Context.current().heartbeat(details);
    } catch {
      // Called outside an activity (tests, tools): nothing to report to.
    }
  };
  const signal = (): AbortSignal | undefined => {
    try {
      return Context.current().cancellationSignal;
    } catch {
      return undefined;
    }
  };

  async function land(file: { source: string; day: string; fileName: string }, answer: { url: string; body: string }, context: Record<string, unknown>): Promise<WeatherRawRef & { size: number }> {
    const raw = await writeRawFile(deps.store, {
      ...file,
      content: { bytes: Buffer.from(answer.body, 'utf8') },
      origin: answer.url,
      fetchedAt: new Date().toISOString(),
      context,
    });
    return { key: raw.key, sha256: raw.sha256, regions: context['regions'] as string[], bytes: raw.size, fetched: true, size: raw.size };
  }

  return {
    /** Seeds operational.regions from REGIONS_FILE (no commit when unchanged) and returns the regions weather is fetched for. */
    async weatherRegions(input: { regions?: readonly string[] }): Promise<Region[]> {
      const seeds = await readRegionsFile(deps.config.regionsFile);
      return withLake(deps.config, async (session) => {
        await seedRegions(session, seeds);
        return listRegions(session, input.regions);
      });
    },

    /** One request (current conditions or the hourly forecast) for a batch of regions → one raw file. */
    async fetchWeatherBatch(input: { dataset: 'current' | 'forecast'; hour: string; batch: number; regions: readonly Region[]; forecastDays?: number }): Promise<WeatherRawRef> {
      heartbeat({ dataset: input.dataset, batch: input.batch });
      const points = input.regions.map((r) => ({ latitude: r.latitude, longitude: r.longitude }));
      try {
        const answer =
          input.dataset === 'current'
            ? await deps.weather.current(points, signal())
            : await deps.weather.forecast(points, input.forecastDays ?? 7, signal());
        const { size: _size, ...ref } = await land(hourlyRawFile(input.dataset, input.hour, input.batch), answer, { regions: input.regions.map((r) => r.id), hour: input.hour });
        return ref;
      } catch (err) {
        throw classify(err);
      }
    },

    /**
     * A region's hourly history over from..to → one raw file. A file an earlier run landed
     * for the same range is reused without asking the API again: re-runs and resumed
     * backfills cost no requests for what is already there.
     */
    async fetchWeatherArchive(input: { region: Region; from: string; to: string }): Promise<WeatherRawRef> {
      const file = archiveRawFile(input.region.id, input.from, input.to);
      const landed = (await listRawFiles(deps.store, file.source, file.day)).filter((f) => f.fileName === file.fileName);
      const latest = landed.sort((a, b) => Date.parse(b.fetchedAt) - Date.parse(a.fetchedAt))[0];
      if (latest) return { key: latest.key, sha256: latest.sha256, regions: [input.region.id], bytes: latest.size, fetched: false };
      heartbeat({ region: input.region.id, from: input.from });
      try {
        const answer = await deps.weather.archive({ latitude: input.region.latitude, longitude: input.region.longitude }, input.from, input.to, signal());
        const { size: _size, ...ref } = await land(file, answer, { regions: [input.region.id], from: input.from, to: input.to });
        return ref;
      } catch (err) {
        throw classify(err);
      }
    },

    /** An hourly run's raw files → observed (current) and forecast rows, one commit each. */
    async curateWeatherHour(input: { hour: string; current: readonly WeatherRawRef[]; forecast: readonly WeatherRawRef[]; run: WeatherRun }): Promise<{ observed: CuratedWeather; forecast: CuratedWeather }> {
      return withLake(deps.config, async (session) => {
        heartbeat('observed');
        const observed = await curateCurrent(session, deps.store, { files: input.current, lineage: lineageOf(input.run, input.current) });
        heartbeat('forecast');
        const forecast = await curateForecast(session, deps.store, { files: input.forecast, issuedAt: `${input.hour}:00:00Z`, lineage: lineageOf(input.run, input.forecast) });
        return { observed, forecast };
      });
    },

    /** A range's archive files → observed rows of their regions in the range, one commit. */
    async curateWeatherArchive(input: { from: string; to: string; files: readonly WeatherRawRef[]; run: WeatherRun }): Promise<CuratedWeather> {
      return withLake(deps.config, (session) => curateArchive(session, deps.store, { ...input, lineage: lineageOf(input.run, input.files) }));
    },

    /** Recomputes weather_daily for `daily` and weather_rolling for `rolling` (each optional), each on its configured engine. */
    async refreshWeatherAggregates(input: {
      daily?: { from: string; to: string };
      rolling?: { from: string; to: string };
      regions?: readonly string[];
      run: WeatherRun;
    }): Promise<{ daily: number; rolling: number; engines: Engine[] }> {
      const lineage: Lineage = {
        ...input.run,
        inputs: await upstreamSnapshots(deps.config, ['curated.weather_observed', 'curated.weather_forecast', 'operational.weather_daily']),
      };
      const regions = input.regions ? { regions: input.regions } : {};
      const engines: Engine[] = [];
      const refresh = async (transform: 'weather_daily' | 'weather_rolling', range: { from: string; to: string } | undefined): Promise<number> => {
        if (!range || input.regions?.length === 0) return 0;
        const { engine } = chooseEngine(deps.config, transform);
        engines.push(engine);
        if (engine === 'duckdb') {
          const refreshOn = transform === 'weather_daily' ? refreshWeatherDaily : refreshWeatherRolling;
          return withLake(deps.config, async (session) => (await refreshOn(session, { ...range, ...regions, lineage })).rows);
        }
        const r = await runOnSpark(deps.spark, {
          engine,
          transform,
          input: { ...range, ...regions, lineage },
          ...input.run,
          step: `${transform}:${range.from}..${range.to}`,
          outcome: { kind: 'lineage', table: `operational.${transform}`, scope: scopeText(range, input.regions) },
        });
        return r.rows;
      };
      const daily = await refresh('weather_daily', input.daily);
      heartbeat('rolling');
      const rolling = await refresh('weather_rolling', input.rolling);
      return { daily, rolling, engines };
    },
  };
}

export type WeatherActivities = ReturnType<typeof createWeatherActivities>;
