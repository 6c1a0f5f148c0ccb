/**
 * Source C's raw answers → curated.weather_observed and curated.weather_forecast.
 * The answers are small (a region-year of hours is ~400 kB), so they are parsed and
 * checked in Node — a clear error names the file and what is wrong — staged through
 * DuckDB's appender, and published in one Iceberg commit per call.
 */
import type { Readable } from 'node:stream';
import { MalformedFileError } from '../curate/errors.ts';
import { publishPartition, type Lineage, type PublishResult } from '../lake/publish.ts';
import { sqlString, type LakeSession } from '../lake/session.ts';
import { ensureTables, LINEAGE_COMMITS } from '../lake/tables.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { hoursInDays } from '../time/hours.ts';
import { parseLocations, type OpenMeteoLocation } from './open-meteo.ts';
import type { WeatherRawRef } from './raw-layout.ts';
import { CURATED_WEATHER_FORECAST, CURATED_WEATHER_OBSERVED, WEATHER_TABLES, WEATHER_VARIABLES } from './tables.ts';

const SOURCE = 'source_c';
const STAGE = 'weather_stage';

type Values = (number | null)[];

/** One location's hourly series, each variable as long as `time`. */
function hourlySeries(loc: OpenMeteoLocation, key: string, region: string): { time: string[]; values: Values[] } {
  const hourly = (loc as { hourly?: Record<string, unknown> }).hourly;
  const time = hourly?.['time'];
  if (!Array.isArray(time) || !time.every((t) => typeof t === 'string')) throw new MalformedFileError(`${key}: ${region} has no hourly.time list`);
  const values = WEATHER_VARIABLES.map((v) => {
    const series = hourly?.[v];
    if (!Array.isArray(series) || series.length !== time.length) throw new MalformedFileError(`${key}: ${region} hourly.${v} is missing or not ${time.length} long`);
    return series.map((x) => (typeof x === 'number' && Number.isFinite(x) ? x : null));
  });
  return { time: time as string[], values };
}

function currentValues(loc: OpenMeteoLocation, key: string, region: string): { time: string; values: (number | null)[] } {
  const current = (loc as { current?: Record<string, unknown> }).current;
  const time = current?.['time'];
  if (typeof time !== 'string') throw new MalformedFileError(`${key}: ${region} has no current.time`);
  return { time, values: WEATHER_VARIABLES.map((v) => (typeof current?.[v] === 'number' ? (current[v] as number) : null)) };
}

async function readBody(store: ObjectStore, key: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of (await store.get(key)) as Readable) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function locationsOf(store: ObjectStore, file: WeatherRawRef): Promise<OpenMeteoLocation[]> {
  let locations: OpenMeteoLocation[];
  try {
    locations = parseLocations(await readBody(store, file.key));
  } catch (err) {
    if (err instanceof MalformedFileError) throw err;
    throw new MalformedFileError(`${file.key} is not an Open-Meteo answer: ${(err as Error).message}`);
  }
  if (locations.length !== file.regions.length) {
    throw new MalformedFileError(`${file.key} answers for ${locations.length} locations, but ${file.regions.length} regions were asked`);
  }
  return locations;
}

/** Stages (region_id, time text, issued, variables…, raw_key) rows through the appender. */
async function stage(session: LakeSession, fill: (row: (region: string, time: string, values: readonly (number | null)[], rawKey: string) => void) => Promise<void>): Promise<number> {
  await session.run(`CREATE OR REPLACE TEMP TABLE ${STAGE} (region_id VARCHAR, time VARCHAR, ${WEATHER_VARIABLES.map((v) => `${v} DOUBLE`).join(', ')}, raw_key VARCHAR)`);
  const appender = await session.connection.createAppender(STAGE, 'main', 'temp');
  let rows = 0;
  try {
    await fill((region, time, values, rawKey) => {
      appender.appendVarchar(region);
      appender.appendVarchar(time);
      for (const v of values) {
        if (v === null) appender.appendNull();
        else appender.appendDouble(v);
      }
      appender.appendVarchar(rawKey);
      appender.endRow();
      rows++;
    });
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
  return rows;
}

/** Open-Meteo's `2026-11-25T14:00` in GMT (the session runs in UTC). */
const timeSql = (col: string): string => `CAST(strptime(${col}, '%Y-%m-%dT%H:%M') AS TIMESTAMPTZ)`;
const variablesSql = WEATHER_VARIABLES.map((v) => (v === 'weather_code' ? `CAST(${v} AS INTEGER)` : v)).join(', ');
const inList = (ids: readonly string[]): string => ids.map(sqlString).join(', ');

export interface CuratedWeather extends PublishResult {
  readonly table: string;
  readonly scope: string;
}

/** The `current` answers of one hourly run: one observed row per region, at the hour its reading falls in. */
export async function curateCurrent(session: LakeSession, store: ObjectStore, input: { files: readonly WeatherRawRef[]; lineage: Lineage }): Promise<CuratedWeather> {
  await ensureTables(session, [...WEATHER_TABLES, LINEAGE_COMMITS]);
  await stage(session, async (row) => {
    for (const file of input.files) {
      const locations = await locationsOf(store, file);
      locations.forEach((loc, i) => {
        const region = file.regions[i] as string;
        const { time, values } = currentValues(loc, file.key, region);
        row(region, time, values, file.key);
      });
    }
  });
  const regions = input.files.flatMap((f) => f.regions);
  const hours = (await session.rows<{ h: string }>(`SELECT DISTINCT strftime(date_trunc('hour', ${timeSql('time')}), '%Y-%m-%dT%H:00:00Z') AS h FROM ${STAGE} ORDER BY 1`)).map((r) => r.h);
  if (hours.length === 0) return { table: 'curated.weather_observed', scope: 'nothing', rows: 0, rejected: 0, retries: 0 };
  const scope = `hours=${hours.join(',')} regions=${regions.length}`;
  const result = await publishPartition(session, {
    table: CURATED_WEATHER_OBSERVED,
    source: SOURCE,
    ingestDay: (hours[0] as string).slice(0, 10),
    replaceWhere: `region_id IN (${inList(regions)}) AND time IN (${hours.map((h) => `TIMESTAMPTZ ${sqlString(h)}`).join(', ')})`,
    scope,
    // A reading at 14:15 stands for hour 14; the last batch wins if two carried one region.
    rowsSql: `SELECT region_id, date_trunc('hour', ${timeSql('time')}) AS t, ${variablesSql}, 'current', CAST(date_trunc('hour', ${timeSql('time')}) AS DATE), raw_key
      FROM ${STAGE} QUALIFY row_number() OVER (PARTITION BY region_id, t ORDER BY raw_key DESC) = 1`,
    lineage: input.lineage,
  });
  return { ...result, table: 'curated.weather_observed', scope };
}

/** The `forecast` answers of one hourly run, issued at `issuedAt` (the run's hour, ISO). */
export async function curateForecast(
  session: LakeSession,
  store: ObjectStore,
  input: { files: readonly WeatherRawRef[]; issuedAt: string; lineage: Lineage },
): Promise<CuratedWeather> {
  await ensureTables(session, [...WEATHER_TABLES, LINEAGE_COMMITS]);
  await stage(session, async (row) => {
    for (const file of input.files) {
      const locations = await locationsOf(store, file);
      locations.forEach((loc, i) => {
        const region = file.regions[i] as string;
        const { time, values } = hourlySeries(loc, file.key, region);
        time.forEach((t, h) => row(region, t, values.map((series) => series[h] ?? null), file.key));
      });
    }
  });
  const regions = input.files.flatMap((f) => f.regions);
  const issued = `TIMESTAMPTZ ${sqlString(input.issuedAt)}`;
  const scope = `issued_at=${input.issuedAt} regions=${regions.length}`;
  const result = await publishPartition(session, {
    table: CURATED_WEATHER_FORECAST,
    source: SOURCE,
    ingestDay: input.issuedAt.slice(0, 10),
    replaceWhere: `issued_at = ${issued} AND region_id IN (${inList(regions)})`,
    scope,
    rowsSql: `SELECT region_id, ${issued}, ${timeSql('time')}, ${variablesSql}, CAST(${issued} AS DATE), raw_key FROM ${STAGE}`,
    lineage: input.lineage,
  });
  return { ...result, table: 'curated.weather_forecast', scope };
}

/**
 * Archive answers for from..to: every hour of the range for each region, or the file is
 * refused — a short answer would leave a silent gap. Replaces those regions' observed
 * rows in the range, whatever run wrote them, so an hour is never there twice.
 */
export async function curateArchive(
  session: LakeSession,
  store: ObjectStore,
  input: { files: readonly WeatherRawRef[]; from: string; to: string; lineage: Lineage },
): Promise<CuratedWeather> {
  await ensureTables(session, [...WEATHER_TABLES, LINEAGE_COMMITS]);
  const expected = hoursInDays(input.from, input.to);
  const first = `${input.from}T00:00`;
  const last = `${input.to}T23:00`;
  await stage(session, async (row) => {
    for (const file of input.files) {
      const locations = await locationsOf(store, file);
      locations.forEach((loc, i) => {
        const region = file.regions[i] as string;
        const { time, values } = hourlySeries(loc, file.key, region);
        if (time.length !== expected || time[0] !== first || time[time.length - 1] !== last) {
          throw new MalformedFileError(
            `${file.key}: ${region} covers ${time.length} hours (${time[0] ?? '-'} .. ${time[time.length - 1] ?? '-'}), expected ${expected} (${first} .. ${last})`,
          );
        }
        time.forEach((t, h) => row(region, t, values.map((series) => series[h] ?? null), file.key));
      });
    }
  });
  const regions = [...new Set(input.files.flatMap((f) => f.regions))].sort();
  const scope = `day=${input.from}..${input.to} regions=${regions.join(',')}`;
  const result = await publishPartition(session, {
    table: CURATED_WEATHER_OBSERVED,
    source: SOURCE,
    ingestDay: input.from,
    replaceWhere: `region_id IN (${inList(regions)}) AND "day" BETWEEN DATE ${sqlString(input.from)} AND DATE ${sqlString(input.to)}`,
    scope,
    rowsSql: `SELECT region_id, ${timeSql('time')}, ${variablesSql}, 'archive', CAST(${timeSql('time')} AS DATE), raw_key FROM ${STAGE}`,
    lineage: input.lineage,
  });
  return { ...result, table: 'curated.weather_observed', scope };
}
