/**
 * Source A, "daily customer activity": one line per event, as nested JSON lines or as a
 * flat CSV. A delivers with a 3-day lag, so the file for day D holds events from the three
 * days before D. A small, seeded share of lines is malformed the way real feeds break.
 */
import { customerId, customerRegionIndex, REGION_CURRENCIES, REGION_IDS } from './customers.ts';
import { SeededRandom } from './seeded-random.ts';
import type { ChunkedTextWriter } from './text-file-writer.ts';

export type SourceAFormat = 'jsonl' | 'csv';

/** Fields the curation rejects a line for lacking; a `missing_field` line drops one of them. */
export const SOURCE_A_REQUIRED_FIELDS = ['event_id', 'customer_id', 'region', 'event_time', 'amount'] as const;

/** Ways a line is broken, per format. JSON and CSV break at the same lines (same seed). */
export const SOURCE_A_MALFORMED_KINDS = {
  jsonl: ['not_json', 'missing_field', 'non_numeric_amount', 'bad_timestamp'],
  csv: ['wrong_column_count', 'missing_field', 'non_numeric_amount', 'bad_timestamp'],
} as const satisfies Record<SourceAFormat, readonly string[]>;

export type SourceAMalformedKind = (typeof SOURCE_A_MALFORMED_KINDS)[SourceAFormat][number];

/** Column order of the CSV variant: the JSON flattened, tags joined with `|`. */
export const SOURCE_A_CSV_COLUMNS = [
  'event_id',
  'customer_id',
  'region',
  'event_time',
  'amount',
  'currency',
  'channel',
  'device',
  'campaign_id',
  'campaign_name',
  'tags',
] as const;

/** A's lag: events of the file for day D fall in [D − 3 days, D). */
export const SOURCE_A_LAG_DAYS = 3;

export interface SourceAOptions {
  /** Delivery day, YYYY-MM-DD. */
  readonly day: string;
  readonly records: number;
  readonly format: SourceAFormat;
  readonly seed: string | number;
  /** Share of lines that are malformed, 0..1. */
  readonly malformedRate: number;
  /** Size of the customer pool events are drawn from (ids c0000001…). */
  readonly customers: number;
}

interface ActivityEvent {
  eventId: string;
  customerId: string;
  region: string;
  eventTime: string;
  /** Already formatted: the JSON number as written, so `12.50` keeps its cents. */
  amount: string;
  currency: string;
  channel: string;
  device: string;
  campaign: { id: string; name: string } | null;
  tags: string[];
}

const CHANNELS = ['web', 'web', 'app', 'app', 'app', 'store', 'call_center', 'partner'] as const;
const DEVICES = ['ios', 'android', 'android', 'desktop', 'desktop', 'tablet', 'unknown'] as const;
const TAGS = ['new_customer', 'returning', 'promo', 'vip', 'newsletter', 'referral', 'churn_risk', 'gift'] as const;
// Every vocabulary string is free of `"` and `\`, so the JSON template below needs no escaping.
// Non-ASCII and a comma are there on purpose: consumers must read UTF-8 and quoted CSV.
const CAMPAIGNS = [
  { id: 'cmp-0001', name: 'Spring sale' },
  { id: 'cmp-0002', name: 'Back to school' },
  { id: 'cmp-0003', name: 'Rentrée 2021' },
  { id: 'cmp-0004', name: 'Black Friday, early access' },
  { id: 'cmp-0005', name: 'Loyalty points x2' },
  { id: 'cmp-0006', name: 'Winback email' },
  { id: 'cmp-0007', name: 'Summer clearance' },
] as const;
// Offsets a global feed actually carries, including half-hour ones.
const UTC_OFFSET_MINUTES = [0, 0, 60, 120, 120, 180, -240, -300, -300, -420, 330, 480, 540, 600] as const;
const BAD_TIMESTAMPS = ['2021-13-01T10:00:00+02:00', '2021-02-30T08:15:00Z', 'not a timestamp', '04/10/2021 10:00', ''] as const;
const NON_NUMERIC_AMOUNTS = ['N/A', '12,50', 'twelve', '', '€9.99'] as const;
// In CSV an empty value is a missing field, a kind of its own: keep the kinds apart.
const CSV_BAD_TIMESTAMPS = BAD_TIMESTAMPS.filter((t) => t !== '');
const CSV_NON_NUMERIC_AMOUNTS = NON_NUMERIC_AMOUNTS.filter((a) => a !== '');

const DAY_MS = 86_400_000;

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

const OFFSET_SUFFIX = new Map<number, string>(
  UTC_OFFSET_MINUTES.map((m) => [m, `${m < 0 ? '-' : '+'}${pad2(Math.floor(Math.abs(m) / 60))}:${pad2(Math.abs(m) % 60)}`]),
);
const TWO_DIGITS = Array.from({ length: 60 }, (_, i) => pad2(i));
const THREE_DIGITS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

/**
 * ISO 8601 local time with its offset, e.g. 2021-10-02T14:03:07.123+05:30. Built from
 * lookup tables with one Date per calendar day: `toISOString` per event was a third of
 * the generator's time.
 */
class OffsetTimestampFormatter {
  private readonly datePrefix = new Map<number, string>();

  format(instantMs: number, offsetMinutes: number): string {
    const localMs = instantMs + offsetMinutes * 60_000;
    const dayNumber = Math.floor(localMs / DAY_MS);
    let prefix = this.datePrefix.get(dayNumber);
    if (prefix === undefined) {
      prefix = `${new Date(dayNumber * DAY_MS).toISOString().slice(0, 10)}T`;
      this.datePrefix.set(dayNumber, prefix);
    }
    let rest = localMs - dayNumber * DAY_MS;
    const ms = rest % 1000;
    rest = (rest - ms) / 1000;
    const seconds = rest % 60;
    rest = (rest - seconds) / 60;
    const minutes = rest % 60;
    const hours = (rest - minutes) / 60;
    return `${prefix}${TWO_DIGITS[hours]}:${TWO_DIGITS[minutes]}:${TWO_DIGITS[seconds]}.${THREE_DIGITS[ms]}${OFFSET_SUFFIX.get(offsetMinutes)}`;
  }
}

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

function toJsonLine(e: ActivityEvent): string {
  const campaign = e.campaign === null ? 'null' : `{"id":"${e.campaign.id}","name":"${e.campaign.name}"}`;
  const tags = e.tags.length === 0 ? '' : `"${e.tags.join('","')}"`;
  return (
    `{"event_id":"${e.eventId}","customer_id":"${e.customerId}","region":"${e.region}","event_time":"${e.eventTime}",` +
    `"amount":${e.amount},"currency":"${e.currency}","channel":"${e.channel}",` +
    `"attributes":{"device":"${e.device}","campaign":${campaign},"tags":[${tags}]}}\n`
  );
}

function toCsvFields(e: ActivityEvent): string[] {
  return [
    e.eventId,
    e.customerId,
    e.region,
    e.eventTime,
    e.amount,
    e.currency,
    e.channel,
    e.device,
    e.campaign?.id ?? '',
    csvField(e.campaign?.name ?? ''),
    e.tags.join('|'),
  ];
}

/** The JSON object of a broken line; slower than the template, but only for the rare bad line. */
function toJsonObject(e: ActivityEvent): Record<string, unknown> {
  return {
    event_id: e.eventId,
    customer_id: e.customerId,
    region: e.region,
    event_time: e.eventTime,
    amount: Number(e.amount),
    currency: e.currency,
    channel: e.channel,
    attributes: { device: e.device, campaign: e.campaign, tags: e.tags },
  };
}

function malformedJsonLine(e: ActivityEvent, kind: SourceAMalformedKind, rng: SeededRandom): string {
  switch (kind) {
    case 'not_json': {
      // A proper prefix of a JSON object never parses: the delivery that was cut mid-line.
      const line = toJsonLine(e).trimEnd();
      return `${line.slice(0, 1 + rng.int(line.length - 2))}\n`;
    }
    case 'missing_field': {
      const obj = toJsonObject(e);
      delete obj[rng.pick(SOURCE_A_REQUIRED_FIELDS)];
      return `${JSON.stringify(obj)}\n`;
    }
    case 'non_numeric_amount':
      return `${JSON.stringify({ ...toJsonObject(e), amount: rng.pick(NON_NUMERIC_AMOUNTS) })}\n`;
    case 'bad_timestamp':
      return `${JSON.stringify({ ...toJsonObject(e), event_time: rng.pick(BAD_TIMESTAMPS) })}\n`;
    default:
      throw new RangeError(`${kind} is not a JSON lines malformation`);
  }
}

function malformedCsvLine(e: ActivityEvent, kind: SourceAMalformedKind, rng: SeededRandom): string {
  const fields = toCsvFields(e);
  switch (kind) {
    case 'wrong_column_count':
      if (rng.chance(0.5)) fields.pop();
      else fields.push('extra');
      break;
    case 'missing_field':
      fields[SOURCE_A_CSV_COLUMNS.indexOf(rng.pick(SOURCE_A_REQUIRED_FIELDS))] = '';
      break;
    case 'non_numeric_amount':
      fields[SOURCE_A_CSV_COLUMNS.indexOf('amount')] = csvField(rng.pick(CSV_NON_NUMERIC_AMOUNTS));
      break;
    case 'bad_timestamp':
      fields[SOURCE_A_CSV_COLUMNS.indexOf('event_time')] = csvField(rng.pick(CSV_BAD_TIMESTAMPS));
      break;
    default:
      throw new RangeError(`${kind} is not a CSV malformation`);
  }
  return `${fields.join(',')}\n`;
}

/**
 * Writes `records` lines (plus a header for CSV) and returns how many of each malformed
 * kind it wrote. Events come from one PRNG stream and malformations from another, both
 * keyed by seed and day only: the JSON and CSV files of one seed hold the same events.
 */
export async function writeSourceA(opts: SourceAOptions, writer: ChunkedTextWriter): Promise<Record<string, number>> {
  const events = new SeededRandom(`${opts.seed}:a:${opts.day}:events`);
  const faults = new SeededRandom(`${opts.seed}:a:${opts.day}:malformed`);
  const kinds = SOURCE_A_MALFORMED_KINDS[opts.format];
  const malformed: Record<string, number> = Object.fromEntries(kinds.map((k) => [k, 0]));

  const dayStartMs = Date.parse(`${opts.day}T00:00:00Z`);
  const windowStartMs = dayStartMs - SOURCE_A_LAG_DAYS * DAY_MS;
  const idPrefix = `a${opts.day.replaceAll('-', '')}-`;
  const timestamps = new OffsetTimestampFormatter();
  // Per-customer strings computed once: the pool is small next to the event count.
  const regionOf = new Uint8Array(opts.customers + 1);
  const idOf: string[] = [''];
  for (let n = 1; n <= opts.customers; n++) {
    regionOf[n] = customerRegionIndex(n);
    idOf.push(customerId(n));
  }

  if (opts.format === 'csv') writer.add(`${SOURCE_A_CSV_COLUMNS.join(',')}\n`);
  for (let i = 0; i < opts.records; i++) {
    const customer = 1 + events.int(opts.customers);
    const regionIndex = regionOf[customer] as number;
    const refund = events.chance(0.02);
    const cents = Math.floor(Math.exp(events.next() * 10)) + 99;
    const campaign = events.chance(0.35) ? events.pick(CAMPAIGNS) : null;
    const tags: string[] = [];
    for (let t = events.int(4); t > 0; t--) {
      const tag = events.pick(TAGS);
      if (!tags.includes(tag)) tags.push(tag);
    }
    const event: ActivityEvent = {
      eventId: idPrefix + String(i + 1).padStart(9, '0'),
      customerId: idOf[customer] as string,
      region: REGION_IDS[regionIndex] as string,
      eventTime: timestamps.format(windowStartMs + events.int(SOURCE_A_LAG_DAYS * DAY_MS), events.pick(UTC_OFFSET_MINUTES)),
      amount: `${refund ? '-' : ''}${Math.floor(cents / 100)}.${pad2(cents % 100)}`,
      currency: REGION_CURRENCIES[regionIndex] as string,
      channel: events.pick(CHANNELS),
      device: events.pick(DEVICES),
      campaign: campaign === null ? null : { id: campaign.id, name: campaign.name },
      tags,
    };

    if (opts.malformedRate > 0 && faults.chance(opts.malformedRate)) {
      const kind = faults.pick(kinds);
      malformed[kind] = (malformed[kind] ?? 0) + 1;
      writer.add(opts.format === 'jsonl' ? malformedJsonLine(event, kind, faults) : malformedCsvLine(event, kind, faults));
    } else {
      writer.add(opts.format === 'jsonl' ? toJsonLine(event) : `${toCsvFields(event).join(',')}\n`);
    }
    if (writer.full) await writer.flush();
  }
  return malformed;
}
