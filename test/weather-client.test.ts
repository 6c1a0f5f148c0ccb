/**
 * Source C's client against the real weather simulator on a free loopback port: the
 * Open-Meteo shape (several regions per call, archive ranges), determinism, and every way
 * the API fails — 429 with and without Retry-After, 500s, slow answers, refused requests —
 * plus the client's own rate limit. Faults are switched on the simulator, never stubbed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, beforeEach, describe, it } from 'node:test';
import { loadConfig } from '../lib/config.ts';
import {
  createWeatherClient,
  NON_RETRYABLE_WEATHER_ERRORS,
  parseLocations,
  WeatherApiError,
  type GeoPoint,
  type WeatherClientOptions,
  type WeatherRetry,
} from '../lib/weather/open-meteo.ts';
import { WEATHER_VARIABLES } from '../lib/weather/tables.ts';
import { startWeatherSimulator, type WeatherSimulator } from '../simulators/weather/server.ts';

/** The simulator's clock: mid-quarter-hour, so flooring to 14:00 is visible. */
const NOW = new Date('2026-11-25T14:07:30Z');
const TODAY = '2026-11-25';

const regions = (JSON.parse(readFileSync(loadConfig().regionsFile, 'utf8')) as { regions: (GeoPoint & { id: string })[] }).regions;
const PARIS: GeoPoint = { latitude: 48.8566, longitude: 2.3522 };

function isWeatherError(type: WeatherApiError['type'], retryable: boolean, check: (e: WeatherApiError) => boolean = () => true) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof WeatherApiError, `expected a WeatherApiError, got ${String(err)}`);
    assert.equal(err.type, type, err.message);
    assert.equal(err.name, type);
    assert.equal(err.retryable, retryable);
    return check(err);
  };
}

describe('weather client against the simulator', () => {
  let sim: WeatherSimulator;

  const client = (overrides: Partial<WeatherClientOptions> = {}) =>
    createWeatherClient({
      forecastUrl: new URL(`${sim.url}/v1/forecast`),
      archiveUrl: new URL(`${sim.url}/v1/archive`),
      timeoutMs: 5_000,
      maxAttempts: 3,
      requestsPerMinute: 60_000,
      initialBackoffMs: 20,
      maxBackoffMs: 5_000,
      ...overrides,
    });

  before(async () => {
    sim = await startWeatherSimulator({ port: 0, now: () => NOW });
  });
  after(async () => {
    await sim.close();
  });
  beforeEach(() => {
    sim.setFaults({});
    sim.setNow(undefined);
  });

  it('answers current conditions of every region in one request, in order, floored to the quarter hour', async () => {
    const res = await client().current(regions);
    assert.equal(res.attempts, 1);
    assert.ok(Array.isArray(JSON.parse(res.body)), 'several locations come as a JSON array');
    assert.equal(res.locations.length, regions.length);
    res.locations.forEach((loc, i) => {
      assert.equal(loc.latitude, regions[i]?.latitude);
      assert.equal(loc.longitude, regions[i]?.longitude);
      assert.equal(loc.utc_offset_seconds, 0);
      assert.equal(loc.current?.time, '2026-11-25T14:00');
      assert.equal(loc.current?.interval, 900);
      for (const v of WEATHER_VARIABLES) assert.equal(typeof loc.current?.[v], 'number', v);
    });
    assert.match(res.url, /latitude=48\.8566,52\.52,/, 'coordinates go as literal comma lists');
    assert.equal((await client().current(regions)).body, res.body, 'same clock, same bytes');
  });

  it('forecasts 7×24 hours from 00:00 UTC today for several regions, deterministically', async () => {
    const points = regions.slice(0, 5);
    const first = await client().forecast(points, 7);
    assert.equal(first.locations.length, 5);
    for (const loc of first.locations) {
      const hourly = loc.hourly;
      assert.ok(hourly);
      assert.equal(hourly.time.length, 168);
      assert.equal(hourly.time[0], '2026-11-25T00:00');
      assert.equal(hourly.time[167], '2026-12-01T23:00');
      for (const v of WEATHER_VARIABLES) assert.equal(hourly[v]?.length, 168, v);
      const precipitation = hourly.precipitation as number[];
      assert.ok(precipitation.every((p) => p >= 0));
      assert.ok((hourly.relative_humidity_2m as number[]).every((h) => Number.isInteger(h) && h >= 20 && h <= 100));
      // WMO codes of rain, showers or snow exactly when it precipitates.
      (hourly.weather_code as number[]).forEach((code, i) => assert.equal(code >= 51, (precipitation[i] as number) > 0, `hour ${i}: code ${code}`));
    }
    assert.equal((await client().forecast(points, 7)).body, first.body);

    const single = await client().forecast([PARIS], 1);
    assert.ok(single.body.startsWith('{'), 'one location comes as a bare object');
    assert.equal(single.locations.length, 1);
  });

  it('returns two years of archive for one point, leap day included', async () => {
    const res = await client().archive(PARIS, '2024-01-01', '2025-12-31');
    const hourly = res.locations[0]?.hourly;
    assert.ok(hourly);
    assert.equal(hourly.time.length, (366 + 365) * 24);
    assert.equal(hourly.time[0], '2024-01-01T00:00');
    assert.equal(hourly.time.at(-1), '2025-12-31T23:00');
    assert.ok(hourly.time.includes('2024-02-29T12:00'));
    const temperatures = hourly.temperature_2m as number[];
    const mean = temperatures.reduce((a, b) => a + b, 0) / temperatures.length;
    assert.ok(mean > 5 && mean < 20, `Paris mean temperature ${mean}`);
  });

  it('reports for an hour in the archive what it forecast and what it called current', async () => {
    const forecast = (await client().forecast([PARIS], 2)).locations[0]?.hourly;
    const archive = (await client().archive(PARIS, TODAY, TODAY)).locations[0]?.hourly;
    const current = (await client().current([PARIS])).locations[0]?.current;
    assert.ok(forecast && archive && current);
    for (const v of WEATHER_VARIABLES) {
      assert.deepEqual(archive[v], forecast[v]?.slice(0, 24), v);
      assert.equal(current[v], archive[v]?.[14], `${v} at 14:00`);
    }
  });

  it('waits out a 429 for its Retry-After, then succeeds', async () => {
    sim.setFaults({ tooManyRequests: 1, retryAfterSeconds: 1 });
    const retries: WeatherRetry[] = [];
    const t0 = Date.now();
    const res = await client({ onRetry: (r) => retries.push(r) }).current([PARIS]);
    const elapsed = Date.now() - t0;
    assert.equal(res.attempts, 2);
    assert.ok(elapsed >= 990 && elapsed < 3_000, `waited ${elapsed} ms`);
    assert.equal(retries.length, 1);
    assert.equal(retries[0]?.waitMs, 1_000);
    assert.match(retries[0]?.reason ?? '', /HTTP 429/);
    assert.equal(sim.stats().tooManyRequests, 1);
  });

  it('gives up on a 429 storm after maxAttempts with a retryable error', async () => {
    sim.setFaults({ tooManyRequests: 10 });
    const before = sim.stats().tooManyRequests;
    await assert.rejects(
      client({ maxAttempts: 3 }).forecast([PARIS], 1),
      isWeatherError('WeatherApiRateLimited', true, (e) => e.attempts === 3 && e.status === 429),
    );
    assert.equal(sim.stats().tooManyRequests - before, 3);
  });

  it('fails at once, retryable, when Retry-After is longer than it would wait', async () => {
    sim.setFaults({ tooManyRequests: 1, retryAfterSeconds: 120 });
    await assert.rejects(
      client({ maxBackoffMs: 5_000 }).current([PARIS]),
      isWeatherError('WeatherApiRateLimited', true, (e) => e.attempts === 1 && e.retryAfterMs === 120_000),
    );
  });

  it('retries 500s with backoff and succeeds', async () => {
    sim.setFaults({ serverErrors: 2 });
    const retries: WeatherRetry[] = [];
    const res = await client({ maxAttempts: 3, onRetry: (r) => retries.push(r) }).current([PARIS]);
    assert.equal(res.attempts, 3);
    assert.deepEqual(retries.map((r) => r.attempt), [1, 2]);
    assert.ok(retries.every((r) => /HTTP 500/.test(r.reason)));
    // Jitter keeps each wait within [half, full] of the doubling backoff (20 ms, 40 ms).
    assert.ok((retries[0]?.waitMs ?? 0) >= 10 && (retries[0]?.waitMs ?? 0) <= 20);
    assert.ok((retries[1]?.waitMs ?? 0) >= 20 && (retries[1]?.waitMs ?? 0) <= 40);
  });

  it('gives up after maxAttempts 500s with a retryable error', async () => {
    sim.setFaults({ serverErrors: 5 });
    await assert.rejects(client({ maxAttempts: 2 }).current([PARIS]), isWeatherError('WeatherApiUnavailable', true, (e) => e.attempts === 2 && e.status === 500));
  });

  it('abandons an answer slower than timeoutMs and retries', async () => {
    sim.setFaults({ delayMs: 1_000 });
    const retries: WeatherRetry[] = [];
    const res = await client({
      timeoutMs: 200,
      onRetry: (r) => {
        retries.push(r);
        sim.setFaults({});
      },
    }).current([PARIS]);
    assert.equal(res.attempts, 2);
    assert.match(retries[0]?.reason ?? '', /no answer within 200 ms/);
  });

  it('fails retryable when every answer is too slow', async () => {
    sim.setFaults({ delayMs: 1_000 });
    const t0 = Date.now();
    await assert.rejects(
      client({ timeoutMs: 200, maxAttempts: 2 }).current([PARIS]),
      isWeatherError('WeatherApiUnavailable', true, (e) => e.attempts === 2 && /no answer within 200 ms/.test(e.message)),
    );
    assert.ok(Date.now() - t0 < 1_500, 'each attempt ends at its timeout, not at the answer');
  });

  it('does not retry a refused request and passes on the API reason', async () => {
    const before = sim.stats().badRequests;
    await assert.rejects(
      client().current([{ latitude: 95, longitude: 0 }]),
      isWeatherError('WeatherApiBadRequest', false, (e) => e.status === 400 && e.attempts === 1 && /Latitude must be in range of -90 to 90/.test(e.reason ?? '')),
    );
    await assert.rejects(
      client().archive(PARIS, '1900-01-01', '1900-01-31'),
      isWeatherError('WeatherApiBadRequest', false, (e) => /out of the allowed range/.test(e.reason ?? '')),
    );
    assert.equal(sim.stats().badRequests - before, 2);
    assert.ok(NON_RETRYABLE_WEATHER_ERRORS.includes('WeatherApiBadRequest'));
  });

  it('refuses an answer that is not the Open-Meteo shape, without retrying', async () => {
    // The simulator's stats are JSON, but not weather: a misconfigured URL looks like this.
    const wrong = createWeatherClient({
      forecastUrl: new URL(`${sim.url}/__sim/stats`),
      archiveUrl: new URL(`${sim.url}/__sim/stats`),
      timeoutMs: 2_000,
      maxAttempts: 3,
      requestsPerMinute: 60_000,
    });
    await assert.rejects(wrong.current([PARIS]), isWeatherError('WeatherApiBadResponse', false, (e) => /latitude is missing/.test(e.message) && e.attempts === 1));
    assert.throws(() => parseLocations('{"latitude":1}'), /longitude is missing/);
    assert.throws(() => parseLocations('[]', { count: 2 }), /0 locations for 2 requested/);
  });

  it('keeps to requestsPerMinute across concurrent calls', async () => {
    const limited = client({ requestsPerMinute: 120 });
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 5 }, () => limited.current([PARIS])));
    const elapsed = Date.now() - t0;
    // 120/min is one request per 500 ms: the fifth starts 2 s after the first.
    assert.ok(elapsed >= 1_950 && elapsed < 4_000, `5 requests took ${elapsed} ms`);
  });

  it('stops at once with the caller’s reason when its signal aborts', async () => {
    sim.setFaults({ delayMs: 2_000 });
    const abort = new AbortController();
    const reason = new Error('activity cancelled');
    setTimeout(() => abort.abort(reason), 100);
    const t0 = Date.now();
    await assert.rejects(client().current([PARIS], abort.signal), (err) => err === reason);
    assert.ok(Date.now() - t0 < 1_000);
  });

  it('takes faults and a clock over HTTP, for a simulator in another process', async () => {
    const post = (path: string, body: unknown): Promise<Response> =>
      fetch(`${sim.url}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    assert.equal((await post('/__sim/now', { now: '2030-06-01T09:20:00Z' })).status, 200);
    assert.equal((await client().current([PARIS])).locations[0]?.current?.time, '2030-06-01T09:15');
    assert.equal((await post('/__sim/faults', { serverErrors: 1 })).status, 200);
    assert.equal((await client().current([PARIS])).attempts, 2);
    assert.equal((await post('/__sim/faults', { bogus: 1 })).status, 400);
    assert.equal((await post('/__sim/now', { now: null })).status, 200);
    assert.equal((await client().current([PARIS])).locations[0]?.current?.time, '2026-11-25T14:00');
    const stats = (await (await fetch(`${sim.url}/__sim/stats`)).json()) as Record<string, number>;
    assert.deepEqual(Object.keys(stats).sort(), ['badRequests', 'errors', 'requests', 'served', 'tooManyRequests']);
  });
});
