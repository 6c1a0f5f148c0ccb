/**
 * Source C's provider client: Open-Meteo's forecast API (current conditions and the hourly
 * forecast) and its historical archive API — or anything with their shape, such as the local
 * simulator (simulators/weather). Several locations go in one request as comma-separated
 * coordinates; the API answers an array in the same order (one location: a bare object).
 *
 * Every answer is returned as the exact text delivered, for the raw zone, after checking it
 * has the shape the request asked for. Failures are `WeatherApiError`s whose `retryable`
 * says whether Temporal should retry the activity: outages, timeouts and rate limits are
 * retried here first (backoff with jitter, Retry-After honoured), then left to Temporal;
 * a refused request or a malformed answer is not (NON_RETRYABLE_WEATHER_ERRORS).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config.ts';
import { isDay } from '../time/days.ts';
import { WEATHER_VARIABLES, type WeatherVariable } from './tables.ts';
import { NON_RETRYABLE_WEATHER_ERRORS } from './weather-error-types.ts';

export { NON_RETRYABLE_WEATHER_ERRORS } from './weather-error-types.ts';

// ---------------------------------------------------------------------------------------
// The API's answer

type VariableValues<T> = { readonly [V in WeatherVariable]?: T };

/** `current`: the conditions of one 15-minute step (`interval`: 900 s), `time` in the requested zone (GMT). */
export type OpenMeteoCurrent = { readonly time: string; readonly interval: number } & VariableValues<number | null>;

/** `hourly`: one array per variable, parallel to `time` (ISO hours without zone, e.g. `2026-11-25T14:00`). */
export type OpenMeteoHourly = { readonly time: readonly string[] } & VariableValues<readonly (number | null)[]>;

/** One location of an Open-Meteo answer, as the JSON has it. */
export interface OpenMeteoLocation {
  /** The grid cell's coordinates, which may differ slightly from the requested ones. */
  readonly latitude: number;
  readonly longitude: number;
  readonly generationtime_ms: number;
  readonly utc_offset_seconds: number;
  readonly timezone: string;
  readonly timezone_abbreviation: string;
  readonly elevation: number;
  readonly current_units?: Readonly<Record<string, string>>;
  readonly current?: OpenMeteoCurrent;
  readonly hourly_units?: Readonly<Record<string, string>>;
  readonly hourly?: OpenMeteoHourly;
}

export interface GeoPoint {
  readonly latitude: number;
  readonly longitude: number;
}

export interface WeatherResponse {
  /** The URL requested (an `apikey` parameter removed), to record as the raw file's origin. */
  readonly url: string;
  /** The response bytes exactly as delivered (UTF-8 text), to be stored in the raw zone. */
  readonly body: string;
  /** Requests it took, 1 when the first one succeeded. */
  readonly attempts: number;
  /** `body` parsed and checked, one entry per requested point, in order. */
  readonly locations: readonly OpenMeteoLocation[];
}

// ---------------------------------------------------------------------------------------
// Errors

export type WeatherApiErrorType =
  /** Network error, timeout or 5xx on every attempt. */
  | 'WeatherApiUnavailable'
  /** 429 on every attempt, or a Retry-After longer than this client waits. */
  | 'WeatherApiRateLimited'
  /** The API refused the request (4xx other than 429), or the request was invalid before sending. */
  | 'WeatherApiBadRequest'
  /** An answer that is not Open-Meteo's JSON for the request. */
  | 'WeatherApiBadResponse';

/**
 * Every failure of the client. `name` equals `type`, so an activity that lets it escape is
 * classified by Temporal under that name and NON_RETRYABLE_WEATHER_ERRORS applies as is.
 */
export class WeatherApiError extends Error {
  override readonly name: WeatherApiErrorType;
  readonly type: WeatherApiErrorType;
  readonly retryable: boolean;
  /** HTTP status of the last answer, when there was one. */
  readonly status: number | undefined;
  /** The API's own `reason` text, when it gave one. */
  readonly reason: string | undefined;
  readonly url: string | undefined;
  readonly attempts: number;
  /** How long the API asked to wait (Retry-After), for an activity's next retry delay. */
  readonly retryAfterMs: number | undefined;

  constructor(
    type: WeatherApiErrorType,
    message: string,
    details: { status?: number; reason?: string; url?: string; attempts?: number; retryAfterMs?: number } = {},
  ) {
    super(message);
    this.name = type;
    this.type = type;
    this.retryable = !NON_RETRYABLE_WEATHER_ERRORS.includes(type);
    this.status = details.status;
    this.reason = details.reason;
    this.url = details.url;
    this.attempts = details.attempts ?? 0;
    this.retryAfterMs = details.retryAfterMs;
  }
}

// ---------------------------------------------------------------------------------------
// Parsing

export interface LocationExpectations {
  /** Number of locations the request named. */
  readonly count?: number;
  /** Sections every location must carry, each with every one of `variables`. */
  readonly sections?: readonly ('current' | 'hourly')[];
  /** Variables a present section must carry; default WEATHER_VARIABLES. */
  readonly variables?: readonly WeatherVariable[];
  /** Exact length of `hourly.time`. */
  readonly hours?: number;
}

const LOCAL_MINUTE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function badShape(message: string): WeatherApiError {
  return new WeatherApiError('WeatherApiBadResponse', `weather API answer: ${message}`);
}

function checkLocation(v: unknown, where: string, expect: LocationExpectations): OpenMeteoLocation {
  if (!isRecord(v)) throw badShape(`${where} is not an object`);
  for (const key of ['latitude', 'longitude', 'generationtime_ms', 'utc_offset_seconds', 'elevation']) {
    if (typeof v[key] !== 'number') throw badShape(`${where}: ${key} is missing or not a number`);
  }
  for (const key of ['timezone', 'timezone_abbreviation']) {
    if (typeof v[key] !== 'string') throw badShape(`${where}: ${key} is missing or not a string`);
  }
  const variables = expect.variables ?? WEATHER_VARIABLES;
  for (const section of expect.sections ?? []) {
    if (v[section] === undefined) throw badShape(`${where}: ${section} is missing`);
  }

  const current = v['current'];
  if (current !== undefined) {
    if (!isRecord(current)) throw badShape(`${where}: current is not an object`);
    if (typeof current['time'] !== 'string' || !LOCAL_MINUTE.test(current['time'])) {
      throw badShape(`${where}: current.time is missing or not YYYY-MM-DDTHH:MM`);
    }
    if (typeof current['interval'] !== 'number') throw badShape(`${where}: current.interval is missing or not a number`);
    for (const name of variables) {
      const value = current[name];
      if (value === undefined) throw badShape(`${where}: current.${name} is missing`);
      if (value !== null && typeof value !== 'number') throw badShape(`${where}: current.${name} is not a number`);
    }
  }

  const hourly = v['hourly'];
  if (hourly !== undefined) {
    if (!isRecord(hourly)) throw badShape(`${where}: hourly is not an object`);
    const time = hourly['time'];
    if (!Array.isArray(time) || !time.every((t) => typeof t === 'string' && LOCAL_MINUTE.test(t))) {
      throw badShape(`${where}: hourly.time is missing or not a list of YYYY-MM-DDTHH:MM`);
    }
    if (expect.hours !== undefined && time.length !== expect.hours) {
      throw badShape(`${where}: hourly.time has ${time.length} hours, ${expect.hours} expected`);
    }
    for (const name of variables) {
      const values = hourly[name];
      if (values === undefined) throw badShape(`${where}: hourly.${name} is missing`);
      if (!Array.isArray(values) || values.length !== time.length || !values.every((x) => x === null || typeof x === 'number')) {
        throw badShape(`${where}: hourly.${name} is not a list of ${time.length} numbers`);
      }
    }
  }
  return v as unknown as OpenMeteoLocation;
}

/**
 * The locations of an Open-Meteo answer, always as a list (the API answers one location with
 * a bare object), each checked for the fields the lake reads. Throws a non-retryable
 * `WeatherApiError` (WeatherApiBadResponse) naming the first thing missing.
 */
export function parseLocations(body: string, expect: LocationExpectations = {}): OpenMeteoLocation[] {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw badShape(`not JSON (starts with ${JSON.stringify(body.slice(0, 80))})`);
  }
  if (isRecord(json) && json['error'] === true) {
    throw badShape(`an error instead of data: ${String(json['reason'] ?? '(no reason)')}`);
  }
  const items = Array.isArray(json) ? json : [json];
  if (expect.count !== undefined && items.length !== expect.count) {
    throw badShape(`${items.length} locations for ${expect.count} requested`);
  }
  return items.map((item, i) => checkLocation(item, items.length === 1 ? 'the location' : `location ${i + 1} of ${items.length}`, expect));
}

// ---------------------------------------------------------------------------------------
// Rate limiting and waiting

/**
 * Spaces requests evenly at `perMinute`, shared by every call of one client. No burst
 * allowance: a burst on top of the steady rate is exactly what trips a provider's
 * per-minute quota. `holdUntil` makes everyone wait out a 429's Retry-After.
 */
function createRequestSpacer(perMinute: number) {
  const spacingMs = 60_000 / perMinute;
  let nextSlot = 0;
  return {
    async take(signal?: AbortSignal): Promise<void> {
      const now = Date.now();
      const slot = Math.max(now, nextSlot);
      nextSlot = slot + spacingMs;
      if (slot > now) await wait(slot - now, signal);
    },
    holdUntil(time: number): void {
      nextSlot = Math.max(nextSlot, time);
    },
  };
}

/** Sleeps; a caller's abort ends it with the caller's reason (Temporal's CancelledFailure). */
async function wait(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, signal ? { signal } : {});
  } catch (err) {
    signal?.throwIfAborted();
    throw err;
  }
}

/** Retry-After as seconds or an HTTP date, in ms from now. */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

// ---------------------------------------------------------------------------------------
// One request

/** What one HTTP exchange came to: data, a failure worth another attempt, or a final one. */
type Outcome =
  | { readonly kind: 'body'; readonly body: string }
  | {
      readonly kind: 'retry';
      readonly type: 'WeatherApiUnavailable' | 'WeatherApiRateLimited';
      readonly reason: string;
      readonly status?: number;
      readonly retryAfterMs?: number;
    }
  | {
      readonly kind: 'fail';
      readonly type: 'WeatherApiBadRequest' | 'WeatherApiBadResponse';
      readonly message: string;
      readonly status: number;
      readonly reason?: string;
    };

/** The API's `reason` from an error body, else the start of the body. */
function errorReason(body: string): { reason: string; fromApi: boolean } {
  try {
    const json: unknown = JSON.parse(body);
    if (isRecord(json) && typeof json['reason'] === 'string') return { reason: json['reason'], fromApi: true };
  } catch {
    /* not JSON: quote the text */
  }
  return { reason: body.slice(0, 200).trim() || '(empty body)', fromApi: false };
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** One HTTP exchange within its own timeout, headers and body alike. */
async function fetchOnce(url: URL, timeoutMs: number, signal: AbortSignal | undefined): Promise<Outcome> {
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  const forwardAbort = (): void => timeout.abort(signal?.reason);
  signal?.addEventListener('abort', forwardAbort, { once: true });
  let status: number;
  let headers: Headers;
  let bytes: Uint8Array;
  try {
    const res = await fetch(url, { signal: timeout.signal, headers: { accept: 'application/json' } });
    status = res.status;
    headers = res.headers;
    bytes = new Uint8Array(await res.arrayBuffer());
  } catch (err) {
    signal?.throwIfAborted();
    if (timeout.signal.aborted) return { kind: 'retry', type: 'WeatherApiUnavailable', reason: `no answer within ${timeoutMs} ms` };
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return { kind: 'retry', type: 'WeatherApiUnavailable', reason: `network error: ${cause?.code ?? cause?.message ?? (err as Error).message}` };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', forwardAbort);
  }

  let body: string;
  try {
    body = utf8.decode(bytes);
  } catch {
    if (status === 200) return { kind: 'fail', type: 'WeatherApiBadResponse', message: 'answer is not UTF-8 text', status };
    body = '';
  }
  if (status === 200) return { kind: 'body', body };

  const { reason, fromApi } = errorReason(body);
  const details = `HTTP ${status}: ${reason}`;
  if (status === 429) {
    const after = retryAfterMs(headers.get('retry-after'));
    return { kind: 'retry', type: 'WeatherApiRateLimited', reason: details, status, ...(after !== undefined ? { retryAfterMs: after } : {}) };
  }
  if (status >= 500 || status === 408) return { kind: 'retry', type: 'WeatherApiUnavailable', reason: details, status };
  if (status >= 400) return { kind: 'fail', type: 'WeatherApiBadRequest', message: `refused: ${details}`, status, ...(fromApi ? { reason } : {}) };
  return { kind: 'fail', type: 'WeatherApiBadResponse', message: `unexpected HTTP ${status}`, status };
}

// ---------------------------------------------------------------------------------------
// The client

export interface WeatherRetry {
  /** The attempt that failed, from 1. */
  readonly attempt: number;
  readonly waitMs: number;
  readonly reason: string;
}

export interface WeatherClientOptions {
  /** `…/v1/forecast`; its own query parameters (e.g. a commercial `apikey`) are kept. */
  readonly forecastUrl: URL;
  /** `…/v1/archive`. */
  readonly archiveUrl: URL;
  /** Per request, headers and body. */
  readonly timeoutMs: number;
  /** Requests per call before giving up with a retryable error (Temporal retries the activity). */
  readonly maxAttempts: number;
  /** Client-wide cap, retries included. */
  readonly requestsPerMinute: number;
  readonly onRetry?: (e: WeatherRetry) => void;
  /** First backoff; doubles per attempt up to `maxBackoffMs`, half of it jittered. Default 1 s. */
  readonly initialBackoffMs?: number;
  /** Longest wait between attempts; a Retry-After longer than this fails at once instead. Default 60 s. */
  readonly maxBackoffMs?: number;
}

export interface WeatherClient {
  /** Current conditions (the latest 15-minute step) of each point, one request. */
  current(points: readonly GeoPoint[], signal?: AbortSignal): Promise<WeatherResponse>;
  /** Hourly forecast of each point from 00:00 UTC today for `days` days (1–16), one request. */
  forecast(points: readonly GeoPoint[], days: number, signal?: AbortSignal): Promise<WeatherResponse>;
  /** Hourly history of one point, `startDate` to `endDate` (YYYY-MM-DD, UTC days) inclusive. */
  archive(point: GeoPoint, startDate: string, endDate: string, signal?: AbortSignal): Promise<WeatherResponse>;
}

/** Open-Meteo takes lists as literal commas; URLSearchParams would send %2C. */
function requestUrl(base: URL, params: readonly (readonly [string, string])[]): URL {
  const kept = new URLSearchParams(base.search);
  for (const [key] of params) kept.delete(key);
  const ours = params.map(([key, value]) => `${key}=${encodeURIComponent(value).replace(/%2C/gi, ',')}`);
  const url = new URL(base);
  url.search = [kept.toString(), ...ours].filter((s) => s !== '').join('&');
  return url;
}

function withoutApiKey(url: URL): string {
  if (!url.searchParams.has('apikey')) return url.href;
  const shown = new URL(url);
  shown.searchParams.delete('apikey');
  return shown.href;
}

function coordinateParams(points: readonly GeoPoint[]): [string, string][] {
  if (points.length === 0) throw new WeatherApiError('WeatherApiBadRequest', 'weather request names no location');
  for (const p of points) {
    if (!Number.isFinite(p.latitude) || !Number.isFinite(p.longitude)) {
      throw new WeatherApiError('WeatherApiBadRequest', `weather request has a bad coordinate: ${p.latitude},${p.longitude}`);
    }
  }
  return [
    ['latitude', points.map((p) => String(p.latitude)).join(',')],
    ['longitude', points.map((p) => String(p.longitude)).join(',')],
  ];
}

/** Grid cells are a few km wide: an answer farther than this from its point is another point's. */
const MAX_GRID_OFFSET_DEGREES = 1;

function checkMatches(locations: readonly OpenMeteoLocation[], points: readonly GeoPoint[]): void {
  locations.forEach((loc, i) => {
    const p = points[i] as GeoPoint;
    const dLon = Math.abs(loc.longitude - p.longitude);
    if (Math.abs(loc.latitude - p.latitude) > MAX_GRID_OFFSET_DEGREES || Math.min(dLon, 360 - dLon) > MAX_GRID_OFFSET_DEGREES) {
      throw badShape(`location ${i + 1} is at ${loc.latitude},${loc.longitude}, requested ${p.latitude},${p.longitude}`);
    }
    if (loc.utc_offset_seconds !== 0) throw badShape(`location ${i + 1} is in ${loc.timezone}, GMT requested`);
  });
}

const HOURS_PER_DAY = 24;
const MAX_FORECAST_DAYS = 16;

export function createWeatherClient(opts: WeatherClientOptions): WeatherClient {
  const spacer = createRequestSpacer(opts.requestsPerMinute);
  const initialBackoffMs = opts.initialBackoffMs ?? 1_000;
  const maxBackoffMs = opts.maxBackoffMs ?? 60_000;
  const variables = WEATHER_VARIABLES.join(',');

  const backoffMs = (attempt: number): number => {
    const ceiling = Math.min(maxBackoffMs, initialBackoffMs * 2 ** (attempt - 1));
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  };

  async function request(url: URL, points: readonly GeoPoint[], expect: LocationExpectations, signal?: AbortSignal): Promise<WeatherResponse> {
    const shownUrl = withoutApiKey(url);
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      await spacer.take(signal);
      const outcome = await fetchOnce(url, opts.timeoutMs, signal);

      if (outcome.kind === 'body') {
        try {
          const locations = parseLocations(outcome.body, { ...expect, count: points.length });
          checkMatches(locations, points);
          return { url: shownUrl, body: outcome.body, attempts: attempt, locations };
        } catch (err) {
          if (!(err instanceof WeatherApiError)) throw err;
          throw new WeatherApiError(err.type, `${err.message} (${shownUrl})`, { status: 200, url: shownUrl, attempts: attempt });
        }
      }
      if (outcome.kind === 'fail') {
        throw new WeatherApiError(outcome.type, `weather API ${outcome.message} (${shownUrl})`, {
          status: outcome.status,
          url: shownUrl,
          attempts: attempt,
          ...(outcome.reason !== undefined ? { reason: outcome.reason } : {}),
        });
      }

      const failed = (message: string): WeatherApiError =>
        new WeatherApiError(outcome.type, `${message} (${shownUrl})`, {
          url: shownUrl,
          attempts: attempt,
          ...(outcome.status !== undefined ? { status: outcome.status } : {}),
          ...(outcome.retryAfterMs !== undefined ? { retryAfterMs: outcome.retryAfterMs } : {}),
        });
      if (outcome.retryAfterMs !== undefined && outcome.retryAfterMs > maxBackoffMs) {
        // Holding a worker slot that long is worse than letting Temporal retry the activity later.
        throw failed(`weather API asks to wait ${Math.ceil(outcome.retryAfterMs / 1000)} s: ${outcome.reason}`);
      }
      if (attempt >= opts.maxAttempts) {
        throw failed(`weather API failed ${attempt} time${attempt === 1 ? '' : 's'}, last: ${outcome.reason}`);
      }
      const waitMs = outcome.retryAfterMs ?? backoffMs(attempt);
      if (outcome.retryAfterMs !== undefined) spacer.holdUntil(Date.now() + waitMs);
      opts.onRetry?.({ attempt, waitMs, reason: outcome.reason });
      await wait(waitMs, signal);
    }
  }

  return {
    async current(points, signal) {
      const url = requestUrl(opts.forecastUrl, [...coordinateParams(points), ['current', variables], ['timezone', 'GMT']]);
      return request(url, points, { sections: ['current'] }, signal);
    },

    async forecast(points, days, signal) {
      if (!Number.isInteger(days) || days < 1 || days > MAX_FORECAST_DAYS) {
        throw new WeatherApiError('WeatherApiBadRequest', `forecast days must be 1-${MAX_FORECAST_DAYS}, got ${days}`);
      }
      const url = requestUrl(opts.forecastUrl, [
        ...coordinateParams(points),
        ['hourly', variables],
        ['forecast_days', String(days)],
        ['timezone', 'GMT'],
      ]);
      return request(url, points, { sections: ['hourly'], hours: days * HOURS_PER_DAY }, signal);
    },

    async archive(point, startDate, endDate, signal) {
      if (!isDay(startDate) || !isDay(endDate) || endDate < startDate) {
        throw new WeatherApiError('WeatherApiBadRequest', `archive range must be two days YYYY-MM-DD in order, got ${startDate}..${endDate}`);
      }
      const days = (Date.parse(`${endDate}T00:00:00Z`) - Date.parse(`${startDate}T00:00:00Z`)) / 86_400_000 + 1;
      const url = requestUrl(opts.archiveUrl, [
        ...coordinateParams([point]),
        ['start_date', startDate],
        ['end_date', endDate],
        ['hourly', variables],
        ['timezone', 'GMT'],
      ]);
      return request(url, [point], { sections: ['hourly'], hours: days * HOURS_PER_DAY }, signal);
    },
  };
}

/** The client the worker uses: endpoints, timeout, attempts and rate from the settings. */
export function createWeatherClientFromConfig(config: Config, extra: Pick<WeatherClientOptions, 'onRetry'> = {}): WeatherClient {
  return createWeatherClient({
    forecastUrl: config.weatherForecastUrl,
    archiveUrl: config.weatherArchiveUrl,
    timeoutMs: config.weatherTimeoutMs,
    maxAttempts: config.weatherMaxAttempts,
    requestsPerMinute: config.weatherRequestsPerMinute,
    ...extra,
  });
}
