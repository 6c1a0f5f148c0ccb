/**
 * Source D's simulated market: an endless, numbered stream of trade events. Everything about
 * event `seq` but its timestamp is a pure function of (seed, seq) — region, instrument, price,
 * volume, attributes, and whether and how it is malformed — so a test knows every event, and
 * how many are valid, without asking the server. The timestamp comes from the stream's
 * timeline (start and rate, see MarketTimeline), so it is fixed once the event exists.
 *
 * Malformed events are still elements of the page's `events` array:
 *   - `price-not-a-number`  price is the string "N/A"
 *   - `missing-region`      no `region` key
 *   - `bad-ts`              ts is "not-a-time"
 *   - `negative-volume`     volume below zero
 *   - `not-json`            the element is a JSON *string* holding the event's text cut short
 *                           (a truncated object, never valid JSON)
 * An element's text, as `checkMarketEvent` (lib/market/events.ts) takes it, is the string
 * itself for a string element and `JSON.stringify(element)` otherwise (marketElementText);
 * every malformed kind is refused that way, and every other event passes.
 */
import { stableHash } from '../files/seeded-random.ts';
import { REGION_IDS } from '../files/customers.ts';

export interface MarketModelOptions {
  readonly seed: string;
  /** Share (0..1) of events that are malformed, chosen by a hash of (seed, seq). */
  readonly malformedRate: number;
}

export const MALFORMED_KINDS = ['price-not-a-number', 'missing-region', 'bad-ts', 'negative-volume', 'not-json'] as const;
export type MalformedKind = (typeof MALFORMED_KINDS)[number];

interface Instrument {
  readonly symbol: string;
  /** Price level the walk wanders around. */
  readonly level: number;
  readonly venues: readonly string[];
  /** Typical size of a trade. */
  readonly lot: number;
}

/** The traded instruments; the first ones trade more often (see pickWeighted). */
export const MARKET_INSTRUMENTS: readonly Instrument[] = [
  { symbol: 'BRENT', level: 82.4, venues: ['ICE', 'CME'], lot: 20 },
  { symbol: 'EURUSD', level: 1.08, venues: ['EBS', 'REUTERS'], lot: 500 },
  { symbol: 'WHEAT-FUT', level: 612.5, venues: ['CME', 'EURONEXT'], lot: 5 },
  { symbol: 'GOLD', level: 2341.8, venues: ['COMEX', 'LBMA'], lot: 3 },
  { symbol: 'CORN-FUT', level: 447.25, venues: ['CME'], lot: 8 },
  { symbol: 'NATGAS', level: 2.87, venues: ['NYMEX', 'ICE'], lot: 40 },
  { symbol: 'COPPER', level: 9450, venues: ['LME', 'COMEX'], lot: 2 },
  { symbol: 'SOY-FUT', level: 1185.5, venues: ['CME'], lot: 5 },
];

/** Tags a trade may carry at random; `block` is added to trades of 20 lots or more. */
const TAGS = ['algo', 'odd-lot', 'auction', 'late', 'cross'] as const;

/** A number in [0, 1) fixed by its key. */
function unit(key: string): number {
  return stableHash(key) / 4_294_967_296;
}

/** Noise in [-1, 1] drifting smoothly over seq: hashed knots every `period` events, cosine-blended. */
function smoothNoise(key: string, seq: number, period: number): number {
  const t = seq / period;
  const knot = Math.floor(t);
  const blend = (1 - Math.cos(Math.PI * (t - knot))) / 2;
  const a = unit(`${key}:${knot}`) * 2 - 1;
  const b = unit(`${key}:${knot + 1}`) * 2 - 1;
  return a + (b - a) * blend;
}

/** Index i with weight 1/(i+1)^skew: a few busy entries and a long quiet tail. */
function pickWeighted(u: number, count: number, skew: number): number {
  let total = 0;
  for (let i = 0; i < count; i++) total += 1 / (i + 1) ** skew;
  let acc = 0;
  for (let i = 0; i < count; i++) {
    acc += 1 / (i + 1) ** skew / total;
    if (u < acc) return i;
  }
  return count - 1;
}

/** Region r01 is the busiest, r20 the quietest (about 7× fewer events than r01). */
const REGION_SKEW = 0.65;
const INSTRUMENT_SKEW = 0.5;

const round2 = (x: number): number => Math.round(x * 100) / 100;

/** How event `seq` is malformed, or undefined when it is valid. */
export function malformedKind(model: MarketModelOptions, seq: number): MalformedKind | undefined {
  if (model.malformedRate <= 0 || unit(`${model.seed}:${seq}:malformed`) >= model.malformedRate) return undefined;
  return MALFORMED_KINDS[stableHash(`${model.seed}:${seq}:kind`) % MALFORMED_KINDS.length];
}

/** Event `seq` as a well-formed object, its ts at `tsMs`. */
function wellFormedEvent(seed: string, seq: number, tsMs: number): Record<string, unknown> {
  const key = `${seed}:${seq}`;
  const region = REGION_IDS[pickWeighted(unit(`${key}:region`), REGION_IDS.length, REGION_SKEW)] as string;
  const instrument = MARKET_INSTRUMENTS[pickWeighted(unit(`${key}:instrument`), MARKET_INSTRUMENTS.length, INSTRUMENT_SKEW)] as Instrument;
  // Slow, medium and fast swings of the instrument over the stream, plus a tick of noise per trade.
  const walkKey = `${seed}:${instrument.symbol}`;
  const move =
    0.04 * smoothNoise(`${walkKey}:slow`, seq, 20_000) +
    0.012 * smoothNoise(`${walkKey}:medium`, seq, 2_000) +
    0.004 * smoothNoise(`${walkKey}:fast`, seq, 150) +
    0.0008 * (unit(`${key}:tick`) * 2 - 1);
  const price = Math.max(0.01, round2(instrument.level * (1 + move)));
  // Mostly lot-sized trades, now and then a block of many lots.
  const lots = unit(`${key}:block`) < 0.03 ? 20 + Math.floor(unit(`${key}:lots`) * 180) : 1 + Math.floor(unit(`${key}:lots`) ** 2 * 10);
  const volume = Math.max(1, Math.round(lots * instrument.lot * (0.5 + unit(`${key}:size`))));
  const tags = [...(lots >= 20 ? ['block'] : []), ...TAGS.filter((tag) => unit(`${key}:tag:${tag}`) < 0.12)];
  return {
    event_id: `m-${seed}-${seq}`,
    seq,
    region,
    instrument: instrument.symbol,
    price,
    volume,
    ts: new Date(tsMs).toISOString(),
    attributes: {
      venue: instrument.venues[stableHash(`${key}:venue`) % instrument.venues.length],
      side: unit(`${key}:side`) < 0.5 ? 'buy' : 'sell',
      tags,
    },
  };
}

/**
 * Event `seq` as the endpoint puts it in `events`: an object, or for a `not-json` event a
 * string holding its cut-short text. `tsMs` is its time on the stream's timeline.
 */
export function marketEventValue(model: MarketModelOptions, seq: number, tsMs: number): unknown {
  const event = wellFormedEvent(model.seed, seq, tsMs);
  switch (malformedKind(model, seq)) {
    case undefined:
      return event;
    case 'price-not-a-number':
      return { ...event, price: 'N/A' };
    case 'missing-region': {
      const { region: _region, ...rest } = event;
      return rest;
    }
    case 'bad-ts':
      return { ...event, ts: 'not-a-time' };
    case 'negative-volume':
      return { ...event, volume: -(event['volume'] as number) };
    case 'not-json': {
      // Cut somewhere after `"seq":N,` and before the closing brace: the id and seq stay
      // readable (a human can still tell which event it was), the object never closes.
      const text = JSON.stringify(event);
      const minCut = text.indexOf(',"region"') + 1;
      const cut = minCut + (stableHash(`${model.seed}:${seq}:cut`) % (text.length - 1 - minCut));
      return text.slice(0, cut);
    }
  }
}

/** The element's JSON as it appears, byte for byte, inside a page's `events` array. */
export function marketEventJson(model: MarketModelOptions, seq: number, tsMs: number): string {
  return JSON.stringify(marketEventValue(model, seq, tsMs));
}

/** The text of one `events` element to give `checkMarketEvent`: a string element is the event's text as sent. */
export function marketElementText(element: unknown): string {
  return typeof element === 'string' ? element : JSON.stringify(element);
}

export interface MarketExpectedCounts {
  readonly total: number;
  readonly valid: number;
  readonly malformed: number;
  /** Ascending. */
  readonly malformedSeqs: readonly number[];
  readonly byKind: Readonly<Record<MalformedKind, number>>;
}

/** What seqs 1..total hold: how many events pass `checkMarketEvent` and which do not. */
export function expectedMarketCounts(model: MarketModelOptions, total: number): MarketExpectedCounts {
  const malformedSeqs: number[] = [];
  const byKind = Object.fromEntries(MALFORMED_KINDS.map((k) => [k, 0])) as Record<MalformedKind, number>;
  for (let seq = 1; seq <= total; seq++) {
    const kind = malformedKind(model, seq);
    if (kind === undefined) continue;
    malformedSeqs.push(seq);
    byKind[kind]++;
  }
  return { total, valid: total - malformedSeqs.length, malformed: malformedSeqs.length, malformedSeqs, byKind };
}

// ---------------------------------------------------------------------------------------
// Timeline

interface Segment {
  readonly firstSeq: number;
  readonly firstMs: number;
  /** Events per second; 0 = paused. */
  readonly rate: number;
}

/**
 * When each event happens: seq 1 at `start`, then one every 1/rate s (ms precision,
 * `ts(seq) = start + floor((seq - 1) × 1000 / rate)` ms). A rate change only moves the
 * events not yet happened — the next one is stamped at the change — so an event served
 * once keeps its bytes.
 */
export class MarketTimeline {
  private readonly segments: Segment[];

  constructor(start: Date, rate: number) {
    checkRate(rate);
    this.segments = [{ firstSeq: 1, firstMs: start.getTime(), rate }];
  }

  get rate(): number {
    return (this.segments[this.segments.length - 1] as Segment).rate;
  }

  /** The ts (ms) of event `seq`; for a paused stream, of when it would happen if resumed now. */
  tsMs(seq: number): number {
    const s = this.segmentOf(seq);
    return s.rate === 0 ? s.firstMs : s.firstMs + Math.floor(((seq - s.firstSeq) * 1000) / s.rate);
  }

  /** How many events have happened by `nowMs` (ts ≤ now). */
  countAt(nowMs: number): number {
    for (let i = this.segments.length - 1; i >= 0; i--) {
      const s = this.segments[i] as Segment;
      if (nowMs < s.firstMs) continue;
      const next = this.segments[i + 1];
      const length = next === undefined ? Number.MAX_SAFE_INTEGER - s.firstSeq : next.firstSeq - s.firstSeq;
      if (s.rate === 0) return s.firstSeq - 1;
      // Estimate in floating point, then settle on the exact integer-ms boundary.
      let k = Math.min(length, Math.floor(((nowMs - s.firstMs) * s.rate) / 1000) + 1);
      while (k < length && s.firstMs + Math.floor((k * 1000) / s.rate) <= nowMs) k++;
      while (k > 0 && s.firstMs + Math.floor(((k - 1) * 1000) / s.rate) > nowMs) k--;
      return s.firstSeq - 1 + k;
    }
    return 0;
  }

  /** From `nowMs` on, events come at `rate` per second (0 pauses the stream). */
  setRate(nowMs: number, rate: number): void {
    checkRate(rate);
    const firstSeq = this.countAt(nowMs) + 1;
    const last = this.segments[this.segments.length - 1] as Segment;
    const firstMs = Math.max(nowMs, last.firstMs);
    // Nothing happened in the last segment yet: it is replaced, not followed.
    if (last.firstSeq >= firstSeq) this.segments.pop();
    this.segments.push({ firstSeq, firstMs, rate });
  }

  private segmentOf(seq: number): Segment {
    for (let i = this.segments.length - 1; i >= 0; i--) {
      const s = this.segments[i] as Segment;
      if (seq >= s.firstSeq) return s;
    }
    return this.segments[0] as Segment;
  }
}

function checkRate(rate: number): void {
  if (!Number.isFinite(rate) || rate < 0) throw new RangeError(`rate must be a number of events per second ≥ 0, got ${rate}`);
}
