/** Calendar days as YYYY-MM-DD strings in UTC: pure functions, safe inside workflows. */
const DAY = /^\d{4}-\d{2}-\d{2}$/;

export function isDay(s: string): boolean {
  if (!DAY.test(s)) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

export function assertDay(s: string, what = 'day'): string {
  if (!isDay(s)) throw new RangeError(`${what} must be a date as YYYY-MM-DD, got "${s}"`);
  return s;
}

export function addDays(day: string, n: number): string {
  const d = new Date(`${assertDay(day)}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

export function dayOf(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** Every day from `from` to `to`, both included. */
export function daysBetween(from: string, to: string): string[] {
  assertDay(from, 'from');
  assertDay(to, 'to');
  if (from > to) throw new RangeError(`from (${from}) is after to (${to})`);
  const out: string[] = [];
  for (let d = from; d <= to; d = addDays(d, 1)) out.push(d);
  return out;
}
