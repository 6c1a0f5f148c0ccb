/** Calendar days as YYYY-MM-DD strings in UTC: pure functions, safe inside workflows. */
const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** Y, M, D of a YYYY-MM-DD string by its digits (the catalog does this for every day of 15 years). */
function parts(s: string): [number, number, number] {
  return [Number(s.slice(0, 4)), Number(s.slice(5, 7)), Number(s.slice(8, 10))];
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** Midnight UTC of Y-M-D in ms (setUTCFullYear: Date.UTC would read years 0–99 as 1900–1999). */
function utc(y: number, m: number, d: number): number {
  const t = new Date(0);
  return t.setUTCFullYear(y, m - 1, d);
}

/** A UTC time in ms → YYYY-MM-DD, for years 0–9999. */
function format(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getUTCFullYear()).padStart(4, '0')}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
}

export function isDay(s: string): boolean {
  if (!DAY.test(s)) return false;
  const [y, m, d] = parts(s);
  // A real calendar day: Date.UTC rolls 2021-02-30 over into March.
  const t = new Date(utc(y, m, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
}

export function assertDay(s: string, what = 'day'): string {
  if (!isDay(s)) throw new RangeError(`${what} must be a date as YYYY-MM-DD, got "${s}"`);
  return s;
}

export function addDays(day: string, n: number): string {
  const [y, m, d] = parts(assertDay(day));
  return format(utc(y, m, d) + n * 86_400_000);
}

export function dayOf(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** Every day from `from` to `to`, both included. */
export function daysBetween(from: string, to: string): string[] {
  assertDay(from, 'from');
  assertDay(to, 'to');
  if (from > to) throw new RangeError(`from (${from}) is after to (${to})`);
  const [y, m, d] = parts(from);
  const start = utc(y, m, d);
  const out: string[] = [];
  for (let t = start, day = from; day <= to; t += 86_400_000, day = format(t)) out.push(day);
  return out;
}
