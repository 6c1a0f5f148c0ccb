/**
 * Source B, "periodic customer reference extract": a CSV of customers delivered every 14
 * days. Some deliveries carry an `updated_at` column and some do not — the seed design
 * does not know whether B has a meaningful timestamp, so the pipeline must handle both.
 */
import { customerId, customerRegionIndex, REGION_IDS } from './customers.ts';
import { SeededRandom } from './seeded-random.ts';
import type { ChunkedTextWriter } from './text-file-writer.ts';

export const SOURCE_B_COLUMNS = ['customer_id', 'name', 'email', 'region', 'segment', 'signup_date'] as const;
/** The optional timestamp column (the curation's configured timestamp field). */
export const SOURCE_B_TIMESTAMP_COLUMN = 'updated_at';
/** B's delivery period: `updated_at` falls in the 14 days before the delivery day. */
export const SOURCE_B_PERIOD_DAYS = 14;

export const SOURCE_B_MALFORMED_KINDS = ['wrong_column_count', 'bad_date'] as const;
export type SourceBMalformedKind = (typeof SOURCE_B_MALFORMED_KINDS)[number];

export interface SourceBOptions {
  /** Delivery day, YYYY-MM-DD. */
  readonly day: string;
  /** Customers in the extract: ids c0000001…c<records>. */
  readonly records: number;
  readonly seed: string | number;
  readonly malformedRate: number;
  /** Whether this delivery has the `updated_at` column. */
  readonly withTimestamp: boolean;
}

// Accents, an apostrophe, a suffix with a comma and a quoted nickname: the name column is
// where CSV quoting and UTF-8 get exercised.
const FIRST_NAMES = ['Anna', 'Ben', 'Chloé', 'David', 'Elena', 'François', 'Greta', 'Hiro', 'Inès', 'Jonas', 'Karin', 'Luca', 'Mia', 'Noah', 'Olga', 'Pedro', 'Zoë', 'Sam'] as const;
const LAST_NAMES = ['Andersson', 'Bauer', 'Costa', 'Dubois', 'Eriksen', 'García', "O'Brien", 'Novak', 'Rossi', 'Schmidt', 'Tanaka', 'Müller', 'Smith', 'Weber', 'Yilmaz'] as const;
const EMAIL_DOMAINS = ['example.com', 'example.org', 'example.net'] as const;
const SEGMENTS = ['consumer', 'consumer', 'consumer', 'smb', 'smb', 'enterprise', 'public_sector'] as const;
const BAD_DATES = ['2021-02-30', '31/12/2019', 'unknown', '2020-13-01'] as const;

const DAY_MS = 86_400_000;
const SIGNUP_FROM_MS = Date.parse('2012-01-01T00:00:00Z');
const SIGNUP_TO_MS = Date.parse('2021-01-01T00:00:00Z');

function asciiSlug(text: string): string {
  return text
    .normalize('NFD')
    .toLowerCase()
    .replace(/[^a-z]/g, '');
}

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/**
 * Name, e-mail, segment and sign-up date of customer `n`: drawn from a PRNG keyed by seed
 * and customer, not by delivery, so the same customer looks the same in every extract.
 */
function customerFields(seed: string | number, n: number, day: string): string[] {
  const rng = new SeededRandom(`${seed}:b:customer:${n}`);
  const first = rng.pick(FIRST_NAMES);
  const last = rng.pick(LAST_NAMES);
  const roll = rng.next();
  const name = roll < 0.02 ? `${first} ${last}, Jr.` : roll < 0.025 ? `${first} "${first.slice(0, 3)}" ${last}` : `${first} ${last}`;
  const email = `${asciiSlug(first)}.${asciiSlug(last)}${n}@${rng.pick(EMAIL_DOMAINS)}`;
  const segment = rng.pick(SEGMENTS);
  let signupMs = SIGNUP_FROM_MS + rng.int((SIGNUP_TO_MS - SIGNUP_FROM_MS) / DAY_MS) * DAY_MS;
  const dayMs = Date.parse(`${day}T00:00:00Z`);
  if (signupMs >= dayMs) signupMs = dayMs - DAY_MS;
  const signupDate = new Date(signupMs).toISOString().slice(0, 10);
  return [customerId(n), csvField(name), email, REGION_IDS[customerRegionIndex(n)] as string, segment, signupDate];
}

/** Writes the header and `records` rows; returns how many of each malformed kind it wrote. */
export async function writeSourceB(opts: SourceBOptions, writer: ChunkedTextWriter): Promise<Record<string, number>> {
  const delivery = new SeededRandom(`${opts.seed}:b:${opts.day}:updates`);
  const faults = new SeededRandom(`${opts.seed}:b:${opts.day}:malformed`);
  const malformed: Record<string, number> = Object.fromEntries(SOURCE_B_MALFORMED_KINDS.map((k) => [k, 0]));
  const periodStartMs = Date.parse(`${opts.day}T00:00:00Z`) - SOURCE_B_PERIOD_DAYS * DAY_MS;

  writer.add(`${[...SOURCE_B_COLUMNS, ...(opts.withTimestamp ? [SOURCE_B_TIMESTAMP_COLUMN] : [])].join(',')}\n`);
  for (let n = 1; n <= opts.records; n++) {
    const fields = customerFields(opts.seed, n, opts.day);
    // Drawn even without the column, so both variants of one seed hold the same customers.
    const updatedAt = new Date(periodStartMs + delivery.int(SOURCE_B_PERIOD_DAYS * DAY_MS / 1000) * 1000).toISOString();
    if (opts.withTimestamp) fields.push(`${updatedAt.slice(0, 19)}Z`);

    if (opts.malformedRate > 0 && faults.chance(opts.malformedRate)) {
      const kind = faults.pick(SOURCE_B_MALFORMED_KINDS);
      malformed[kind] = (malformed[kind] ?? 0) + 1;
      if (kind === 'wrong_column_count') {
        if (faults.chance(0.5)) fields.pop();
        else fields.push('extra');
      } else if (opts.withTimestamp && faults.chance(0.3)) {
        fields[fields.length - 1] = faults.pick(BAD_DATES);
      } else {
        fields[SOURCE_B_COLUMNS.indexOf('signup_date')] = faults.pick(BAD_DATES);
      }
    }
    writer.add(`${fields.join(',')}\n`);
    if (writer.full) await writer.flush();
  }
  return malformed;
}
