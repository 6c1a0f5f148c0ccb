/**
 * The simulated weather: a pure function of (latitude, longitude, UTC hour), so the forecast
 * of an hour is the value the archive reports for it later, on every machine and run.
 * Plausible, not realistic: a latitude-dependent mean, a seasonal and a diurnal cycle,
 * weather systems as smooth hashed noise lasting a day or two, and occasional showers.
 */
import { stableHash } from '../files/seeded-random.ts';

export const HOUR_MS = 3_600_000;

/** The variables the simulator serves, with Open-Meteo's units. */
export const SIMULATED_UNITS = {
  temperature_2m: '°C',
  relative_humidity_2m: '%',
  precipitation: 'mm',
  wind_speed_10m: 'km/h',
  weather_code: 'wmo code',
} as const;

export type SimulatedVariable = keyof typeof SIMULATED_UNITS;

export type HourlyWeather = { readonly [V in SimulatedVariable]: number };

export function isSimulatedVariable(name: string): name is SimulatedVariable {
  return Object.hasOwn(SIMULATED_UNITS, name);
}

/** A number in [0, 1) fixed by its key. */
function unit(key: string): number {
  return stableHash(key) / 4_294_967_296;
}

/** Noise in [-1, 1] that drifts smoothly: hashed knots every `periodHours`, cosine-blended. */
function smoothNoise(key: string, hour: number, periodHours: number): number {
  const t = hour / periodHours;
  const knot = Math.floor(t);
  const blend = (1 - Math.cos(Math.PI * (t - knot))) / 2;
  const a = unit(`${key}:${knot}`) * 2 - 1;
  const b = unit(`${key}:${knot + 1}`) * 2 - 1;
  return a + (b - a) * blend;
}

/** Open-Meteo's precision: one decimal, never `-0`. */
function oneDecimal(x: number): number {
  const r = Math.round(x * 10) / 10;
  return r === 0 ? 0 : r;
}

const clamp = (x: number, min: number, max: number): number => Math.min(max, Math.max(min, x));

function locationKey(latitude: number, longitude: number): string {
  return `${latitude.toFixed(4)},${longitude.toFixed(4)}`;
}

/** WMO code consistent with the hour's precipitation, temperature and sky. */
function weatherCode(precipitation: number, temperature: number, humidity: number, wind: number, sky: number): number {
  if (precipitation > 0) {
    // Slight, moderate, heavy: snowfall (71/73/75) near freezing, else rain showers (80/81/82).
    const intensity = precipitation >= 4 ? 2 : precipitation >= 1 ? 1 : 0;
    return (temperature < 0.5 ? 71 : 80) + (temperature < 0.5 ? 2 : 1) * intensity;
  }
  if (humidity >= 97 && wind < 6) return 45;
  if (sky < -0.4) return 0;
  if (sky < 0) return 1;
  if (sky < 0.4) return 2;
  return 3;
}

/** The weather of the hour starting at `hourStartMs` (UTC; any time inside the hour gives the same). */
export function weatherAt(latitude: number, longitude: number, hourStartMs: number): HourlyWeather {
  const hour = Math.floor(hourStartMs / HOUR_MS);
  const at = new Date(hour * HOUR_MS);
  const key = locationKey(latitude, longitude);
  const absLat = Math.abs(latitude);

  const dayOfYear = (at.getTime() - Date.UTC(at.getUTCFullYear(), 0, 1)) / 86_400_000;
  // +1 at midsummer (around 19 July on land in the north), mirrored in the south.
  const season = Math.cos((2 * Math.PI * (dayOfYear - 200)) / 365.25) * (latitude >= 0 ? 1 : -1);
  const solarHour = (((at.getUTCHours() + longitude / 15) % 24) + 24) % 24;
  // +1 at 15:00 local solar time, the usual daily maximum.
  const diurnal = Math.cos((2 * Math.PI * (solarHour - 15)) / 24);

  const annualMean = 28 - 0.4 * Math.max(0, absLat - 12);
  const temperature =
    annualMean + 0.17 * absLat * season + 5 * diurnal + 3 * smoothNoise(`${key}:temp`, hour, 36) + (unit(`${key}:temp:${hour}`) - 0.5) * 0.6;

  const wetness = (smoothNoise(`${key}:rain`, hour, 8) + 1) / 2;
  const shower = wetness > 0.8 ? ((wetness - 0.8) / 0.2) ** 2 * 4 * unit(`${key}:rain:${hour}`) : 0;
  const precipitation = oneDecimal(shower);

  const humidity = Math.round(
    clamp(70 - 12 * diurnal + 15 * smoothNoise(`${key}:hum`, hour, 24) + (precipitation > 0 ? 20 : 0), 20, 100),
  );
  const wind = oneDecimal(
    Math.max(0, 8 + 0.1 * absLat + 7 * smoothNoise(`${key}:wind`, hour, 18) + 3 * (unit(`${key}:wind:${hour}`) - 0.5) + 1.5 * precipitation),
  );
  const temperature2m = oneDecimal(temperature);

  return {
    temperature_2m: temperature2m,
    relative_humidity_2m: humidity,
    precipitation,
    wind_speed_10m: wind,
    weather_code: weatherCode(precipitation, temperature2m, humidity, wind, smoothNoise(`${key}:sky`, hour, 12)),
  };
}

/** A fixed ground height for the grid cell, in metres, as the API reports it. */
export function elevationAt(latitude: number, longitude: number): number {
  return Math.round(unit(`${locationKey(latitude, longitude)}:elevation`) * 600);
}
