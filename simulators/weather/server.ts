/**
 * Source C's provider as it would answer: Open-Meteo's `/v1/forecast` and `/v1/archive` on
 * node:http, over the deterministic model in model.ts, with the faults a public API has
 * (429 with Retry-After, 500s, slow answers) switchable at run time — in-process through
 * the returned handle, or over HTTP (`/__sim/…`) when it runs as a daemon.
 *
 * Answers are byte-identical for the same request and clock (`generationtime_ms` included),
 * so tests and the raw zone can compare bodies.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isDay } from '../../lib/time/days.ts';
import { SeededRandom } from '../files/seeded-random.ts';
import { elevationAt, HOUR_MS, isSimulatedVariable, SIMULATED_UNITS, weatherAt, type SimulatedVariable } from './model.ts';

export interface WeatherFaults {
  /** The next N API requests get 429. */
  readonly tooManyRequests?: number;
  /** Retry-After (seconds) sent with those 429s; none when unset. */
  readonly retryAfterSeconds?: number;
  /** The next N API requests (after any 429s) get 500. */
  readonly serverErrors?: number;
  /** Every API answer, errors included, is held back this long. */
  readonly delayMs?: number;
  /** Share (0..1) of API requests answered 500 at random, from a fixed seed. */
  readonly errorRate?: number;
}

export interface WeatherSimulatorStats {
  /** API requests received (`/v1/…`; control requests not counted). */
  readonly requests: number;
  /** Answered 200. */
  readonly served: number;
  readonly tooManyRequests: number;
  /** Answered 5xx. */
  readonly errors: number;
  /** Answered 4xx other than 429. */
  readonly badRequests: number;
}

export interface WeatherSimulatorOptions {
  /** 0 (default): any free port. */
  readonly port?: number;
  readonly host?: '127.0.0.1';
  /** The simulator's clock (what "current" and "today" mean); default the real one. */
  readonly now?: () => Date;
}

export interface WeatherSimulator {
  /** `http://127.0.0.1:port`, no trailing slash. */
  readonly url: string;
  readonly port: number;
  /** Replaces every fault setting; counters start again. */
  setFaults(faults: WeatherFaults): void;
  /** Freezes the clock at `now`; undefined goes back to the `now` option or the real clock. */
  setNow(now: Date | undefined): void;
  stats(): WeatherSimulatorStats;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// Requests

const QUARTER_HOUR_MS = 900_000;
const DAY_MS = 86_400_000;
const DEFAULT_FORECAST_DAYS = 7;
const MAX_FORECAST_DAYS = 16;
/** Open-Meteo's limit of coordinates per request. */
const MAX_LOCATIONS = 1_000;
/** Location-hours per answer (about 114 location-years): above it a request is refused, not served for minutes. */
const MAX_LOCATION_HOURS = 1_000_000;
const FIRST_ARCHIVE_DAY = '1940-01-01';
const MAX_CONTROL_BODY_BYTES = 64 * 1024;

const FORECAST_PARAMS = new Set(['latitude', 'longitude', 'current', 'hourly', 'forecast_days', 'timezone', 'timeformat', 'apikey']);
const ARCHIVE_PARAMS = new Set(['latitude', 'longitude', 'hourly', 'start_date', 'end_date', 'timezone', 'timeformat', 'apikey']);

/** A request the API refuses with 400 and Open-Meteo's `{"error":true,"reason":…}`. */
class BadRequest extends Error {}

interface Point {
  readonly latitude: number;
  readonly longitude: number;
}

/** `a,b` lists; repeated parameters are joined, as Open-Meteo accepts both. */
function listParam(params: URLSearchParams, name: string): string[] | undefined {
  const values = params.getAll(name);
  if (values.length === 0) return undefined;
  return values.flatMap((v) => v.split(',')).map((s) => s.trim());
}

function coordinates(params: URLSearchParams, name: 'latitude' | 'longitude', limit: number): number[] {
  const raw = listParam(params, name);
  if (raw === undefined || raw.every((s) => s === '')) throw new BadRequest(`Parameter '${name}' is required`);
  return raw.map((s) => {
    const n = s === '' ? Number.NaN : Number(s);
    if (!Number.isFinite(n)) throw new BadRequest(`Parameter '${name}' must be a number, got '${s}'`);
    if (Math.abs(n) > limit) throw new BadRequest(`${name === 'latitude' ? 'Latitude' : 'Longitude'} must be in range of -${limit} to ${limit}°. Given: ${n}.`);
    return n;
  });
}

function points(params: URLSearchParams): Point[] {
  const latitudes = coordinates(params, 'latitude', 90);
  const longitudes = coordinates(params, 'longitude', 180);
  if (latitudes.length !== longitudes.length) throw new BadRequest("Parameter 'latitude' and 'longitude' must have the same number of elements");
  if (latitudes.length > MAX_LOCATIONS) throw new BadRequest(`At most ${MAX_LOCATIONS} locations per request`);
  return latitudes.map((latitude, i) => ({ latitude, longitude: longitudes[i] as number }));
}

function variables(params: URLSearchParams, section: 'current' | 'hourly'): SimulatedVariable[] | undefined {
  const names = listParam(params, section)?.filter((s) => s !== '');
  if (names === undefined) return undefined;
  for (const name of names) {
    if (!isSimulatedVariable(name)) throw new BadRequest(`Cannot initialize WeatherVariable from invalid String value ${name} for key ${section}`);
  }
  return names as SimulatedVariable[];
}

/** Parameters this simulator does not implement are refused, so a client relying on one finds out here. */
function checkParams(params: URLSearchParams, allowed: ReadonlySet<string>): void {
  for (const name of params.keys()) {
    if (!allowed.has(name)) throw new BadRequest(`Parameter '${name}' is not supported by the simulator`);
  }
  const timezone = params.get('timezone');
  if (timezone !== null && !['GMT', 'UTC'].includes(timezone)) throw new BadRequest(`Only timezone=GMT is simulated, got '${timezone}'`);
  const timeformat = params.get('timeformat');
  if (timeformat !== null && timeformat !== 'iso8601') throw new BadRequest(`Only timeformat=iso8601 is simulated, got '${timeformat}'`);
}

/** ISO 8601 local time without zone, as Open-Meteo writes it: `2026-11-25T14:00`. */
const isoMinute = (ms: number): string => new Date(ms).toISOString().slice(0, 16);

function units(vars: readonly SimulatedVariable[], extra: Record<string, string>): Record<string, string> {
  return { ...extra, ...Object.fromEntries(vars.map((v) => [v, SIMULATED_UNITS[v]])) };
}

function hourlySeries(p: Point, vars: readonly SimulatedVariable[], firstHourMs: number, hours: number): Record<string, unknown[]> {
  const series: Record<string, unknown[]> = { time: [] };
  for (const v of vars) series[v] = [];
  for (let h = 0; h < hours; h++) {
    const ms = firstHourMs + h * HOUR_MS;
    const values = weatherAt(p.latitude, p.longitude, ms);
    series['time']?.push(isoMinute(ms));
    for (const v of vars) series[v]?.push(values[v]);
  }
  return series;
}

/** What the answer took to compute on Open-Meteo, made up from its size so answers stay byte-identical. */
function generationTimeMs(values: number): number {
  return Math.round((0.02 + values * 0.0004) * 1e6) / 1e6;
}

function locationAnswer(
  p: Point,
  current: { readonly vars: readonly SimulatedVariable[]; readonly atMs: number } | undefined,
  hourly: { readonly vars: readonly SimulatedVariable[]; readonly firstHourMs: number; readonly hours: number } | undefined,
): Record<string, unknown> {
  const values = (current?.vars.length ?? 0) + (hourly ? hourly.vars.length * hourly.hours : 0);
  const answer: Record<string, unknown> = {
    latitude: p.latitude,
    longitude: p.longitude,
    generationtime_ms: generationTimeMs(values),
    utc_offset_seconds: 0,
    timezone: 'GMT',
    timezone_abbreviation: 'GMT',
    elevation: elevationAt(p.latitude, p.longitude),
  };
  if (current) {
    // Open-Meteo interpolates 15-minute steps; here a step carries its hour's values.
    const values = weatherAt(p.latitude, p.longitude, current.atMs);
    answer['current_units'] = units(current.vars, { time: 'iso8601', interval: 'seconds' });
    answer['current'] = { time: isoMinute(current.atMs), interval: QUARTER_HOUR_MS / 1000, ...Object.fromEntries(current.vars.map((v) => [v, values[v]])) };
  }
  if (hourly) {
    answer['hourly_units'] = units(hourly.vars, { time: 'iso8601' });
    answer['hourly'] = hourlySeries(p, hourly.vars, hourly.firstHourMs, hourly.hours);
  }
  return answer;
}

/** One location answers with an object, several with an array in request order. */
function render(answers: Record<string, unknown>[]): string {
  return JSON.stringify(answers.length === 1 ? answers[0] : answers);
}

function checkSize(locations: number, hours: number): void {
  if (locations * hours > MAX_LOCATION_HOURS) {
    throw new BadRequest(`Too many values requested: ${locations} locations × ${hours} hours exceeds ${MAX_LOCATION_HOURS}`);
  }
}

function forecastBody(params: URLSearchParams, now: Date): string {
  checkParams(params, FORECAST_PARAMS);
  const pts = points(params);
  const currentVars = variables(params, 'current');
  const hourlyVars = variables(params, 'hourly');
  const daysParam = params.get('forecast_days');
  const days = daysParam === null ? DEFAULT_FORECAST_DAYS : Number(daysParam);
  if (!Number.isInteger(days) || days < 0 || days > MAX_FORECAST_DAYS) {
    throw new BadRequest(`Forecast days is invalid. Allowed range 0 to ${MAX_FORECAST_DAYS}.`);
  }
  checkSize(pts.length, days * 24);
  const nowMs = now.getTime();
  const current = currentVars ? { vars: currentVars, atMs: Math.floor(nowMs / QUARTER_HOUR_MS) * QUARTER_HOUR_MS } : undefined;
  const hourly = hourlyVars ? { vars: hourlyVars, firstHourMs: Math.floor(nowMs / DAY_MS) * DAY_MS, hours: days * 24 } : undefined;
  return render(pts.map((p) => locationAnswer(p, current, hourly)));
}

function archiveBody(params: URLSearchParams, now: Date): string {
  checkParams(params, ARCHIVE_PARAMS);
  const pts = points(params);
  const start = params.get('start_date');
  const end = params.get('end_date');
  if (start === null || end === null) throw new BadRequest("Parameter 'start_date' and 'end_date' are required");
  for (const [name, day] of [['start_date', start], ['end_date', end]] as const) {
    if (!isDay(day)) throw new BadRequest(`Parameter '${name}' must be a date as YYYY-MM-DD, got '${day}'`);
  }
  const today = now.toISOString().slice(0, 10);
  if (start < FIRST_ARCHIVE_DAY || end > today) {
    throw new BadRequest(`Parameter 'start_date' and 'end_date' are out of the allowed range from ${FIRST_ARCHIVE_DAY} to ${today}`);
  }
  if (end < start) throw new BadRequest("Parameter 'end_date' must be on or after 'start_date'");
  const firstHourMs = Date.parse(`${start}T00:00:00Z`);
  const hours = (Date.parse(`${end}T00:00:00Z`) - firstHourMs) / HOUR_MS + 24;
  checkSize(pts.length, hours);
  const hourlyVars = variables(params, 'hourly');
  const hourly = hourlyVars ? { vars: hourlyVars, firstHourMs, hours } : undefined;
  return render(pts.map((p) => locationAnswer(p, undefined, hourly)));
}

// ---------------------------------------------------------------------------------------
// Faults and control

function checkFaults(value: unknown): WeatherFaults {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadRequest('faults must be a JSON object');
  const faults = value as Record<string, unknown>;
  for (const [key, v] of Object.entries(faults)) {
    if (!['tooManyRequests', 'retryAfterSeconds', 'serverErrors', 'delayMs', 'errorRate'].includes(key)) throw new BadRequest(`unknown fault '${key}'`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new BadRequest(`fault '${key}' must be a number ≥ 0`);
    if (key === 'errorRate' && v > 1) throw new BadRequest("fault 'errorRate' must be between 0 and 1");
  }
  return faults as WeatherFaults;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_CONTROL_BODY_BYTES) throw new BadRequest('body too large');
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new BadRequest('body is not JSON');
  }
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

const errorBody = (reason: string): string => JSON.stringify({ error: true, reason });

/** Resolves after `ms`, or early when the client hung up (nothing left to answer). */
function holdBack(ms: number, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    res.once('close', done);
    function done(): void {
      clearTimeout(timer);
      res.off('close', done);
      resolve();
    }
  });
}

/** Starts the simulator on loopback; resolves once it listens. */
export async function startWeatherSimulator(opts: WeatherSimulatorOptions = {}): Promise<WeatherSimulator> {
  const host = opts.host ?? '127.0.0.1';
  const clock = opts.now ?? ((): Date => new Date());
  let frozenNow: Date | undefined;
  let faults: WeatherFaults = {};
  let pending429 = 0;
  let pending500 = 0;
  let random = new SeededRandom('weather-simulator-faults');
  const counts = { requests: 0, served: 0, tooManyRequests: 0, errors: 0, badRequests: 0 };

  const setFaults = (f: WeatherFaults): void => {
    faults = { ...f };
    pending429 = Math.floor(f.tooManyRequests ?? 0);
    pending500 = Math.floor(f.serverErrors ?? 0);
    random = new SeededRandom('weather-simulator-faults');
  };
  const now = (): Date => frozenNow ?? clock();

  /** The fault this request meets, decided on arrival so concurrent requests count in order. */
  function faultFor(): { status: number; body: string; headers?: Record<string, string> } | undefined {
    if (pending429 > 0) {
      pending429--;
      const headers: Record<string, string> = faults.retryAfterSeconds !== undefined ? { 'retry-after': String(faults.retryAfterSeconds) } : {};
      return { status: 429, body: errorBody('Minutely API request limit exceeded. Please try again in one minute.'), headers };
    }
    if (pending500 > 0) {
      pending500--;
      return { status: 500, body: errorBody('Internal server error (simulated)') };
    }
    if (faults.errorRate && random.chance(faults.errorRate)) return { status: 500, body: errorBody('Internal server error (simulated, random)') };
    return undefined;
  }

  async function api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    counts.requests++;
    const fault = faultFor();
    if (faults.delayMs) await holdBack(faults.delayMs, res);
    let status: number;
    let body: string;
    let headers: Record<string, string> | undefined;
    if (fault) {
      ({ status, body, headers } = fault);
    } else if (req.method !== 'GET' && req.method !== 'HEAD') {
      [status, body] = [405, errorBody('Method not allowed')];
    } else {
      try {
        body = url.pathname === '/v1/forecast' ? forecastBody(url.searchParams, now()) : archiveBody(url.searchParams, now());
        status = 200;
      } catch (err) {
        if (!(err instanceof BadRequest)) throw err;
        [status, body] = [400, errorBody(err.message)];
      }
    }
    if (status === 200) counts.served++;
    else if (status === 429) counts.tooManyRequests++;
    else if (status >= 500) counts.errors++;
    else counts.badRequests++;
    send(res, status, body, headers);
  }

  async function control(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (path === '/__sim/stats' && req.method === 'GET') return send(res, 200, JSON.stringify(counts));
    if (path === '/__sim/faults' && req.method === 'POST') {
      setFaults(checkFaults(await readJson(req)));
      return send(res, 200, JSON.stringify({ faults }));
    }
    if (path === '/__sim/now' && req.method === 'POST') {
      const body = await readJson(req);
      const value = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['now'] : undefined;
      if (value === null) frozenNow = undefined;
      else if (typeof value === 'string' && !Number.isNaN(Date.parse(value))) frozenNow = new Date(value);
      else throw new BadRequest('body must be {"now": ISO timestamp | null}');
      return send(res, 200, JSON.stringify({ now: now().toISOString(), frozen: frozenNow !== undefined }));
    }
    send(res, 404, errorBody(`no control ${req.method} ${path}`));
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const handled =
      url.pathname === '/v1/forecast' || url.pathname === '/v1/archive'
        ? api(req, res, url)
        : url.pathname.startsWith('/__sim/')
          ? control(req, res, url.pathname)
          : Promise.resolve(send(res, 404, errorBody('Not Found')));
    handled.catch((err: unknown) => {
      if (err instanceof BadRequest) return send(res, 400, errorBody(err.message));
      counts.errors++;
      send(res, 500, errorBody(`simulator failure: ${(err as Error).message}`));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://${host}:${port}`,
    port,
    setFaults,
    setNow: (d) => {
      frozenNow = d;
    },
    stats: () => ({ ...counts }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Held-back answers and keep-alive sockets must not keep the server open.
        server.closeAllConnections();
      }),
  };
}
