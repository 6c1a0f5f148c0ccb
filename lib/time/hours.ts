/** UTC hours as `YYYY-MM-DDTHH` and calendar ranges: pure functions, safe inside workflows. */
import { assertDay, isDay } from './days.ts';

const HOUR = /^(\d{4}-\d{2}-\d{2})T(\d{2})$/;

export function isHour(s: string): boolean {
  const m = HOUR.exec(s);
  return m !== null && isDay(m[1] as string) && Number(m[2]) < 24;
}

export function assertHour(s: string, what = 'hour'): string {
  if (!isHour(s)) throw new RangeError(`${what} must be a UTC hour as YYYY-MM-DDTHH, got "${s}"`);
  return s;
}

/** The UTC hour a time falls in. */
export function hourOf(date: Date): string {
  return date.toISOString().slice(0, 13);
}

export function dayOfHour(hour: string): string {
  return assertHour(hour).slice(0, 10);
}

/** `2026-11-25T14` → `2026-11-25T14:00:00Z`. */
export function hourStartIso(hour: string): string {
  return `${assertHour(hour)}:00:00Z`;
}

export interface DayRange {
  readonly from: string;
  readonly to: string;
}

/** from..to cut at calendar-year boundaries: 2011-03-01..2012-02-01 → [2011-03-01..2011-12-31, 2012-01-01..2012-02-01]. */
export function yearRanges(from: string, to: string): DayRange[] {
  assertDay(from, 'from');
  assertDay(to, 'to');
  if (from > to) throw new RangeError(`from (${from}) is after to (${to})`);
  const out: DayRange[] = [];
  for (let year = Number(from.slice(0, 4)); year <= Number(to.slice(0, 4)); year++) {
    const start = `${year}-01-01`;
    const end = `${year}-12-31`;
    out.push({ from: start < from ? from : start, to: end > to ? to : end });
  }
  return out;
}

/** Hours in from..to, both days whole. */
export function hoursInDays(from: string, to: string): number {
  const ms = Date.parse(`${assertDay(to)}T00:00:00Z`) - Date.parse(`${assertDay(from)}T00:00:00Z`);
  return (ms / 86_400_000 + 1) * 24;
}

/** `2026-11-25T00` + (-1) → `2026-11-24T23`. */
export function addHours(hour: string, n: number): string {
  return hourOf(new Date(Date.parse(hourStartIso(hour)) + n * 3_600_000));
}
