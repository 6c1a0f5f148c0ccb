/**
 * Source D's market events: the shape the REST endpoint serves, the check every event
 * passes before it counts, and where events land in the raw zone.
 *
 * Raw layout (Kafka Connect S3 sink's exactly-once recipe): the hour comes from the
 * event's own timestamp, the file name from topic, partition and first offset, so a
 * consumer that re-reads after a crash writes the same keys again instead of new ones:
 *   raw/source_d/day=D/hour=HH/<topic>+<partition>+<startOffset>.jsonl            valid events
 *   raw/source_d/_rejected/day=D/hour=HH/<topic>+<partition>+<startOffset>.jsonl  malformed, with the reason
 */

export interface MarketEvent {
  readonly event_id: string;
  /** The endpoint's sequence number: its cursor. */
  readonly seq: number;
  readonly region: string;
  readonly instrument: string;
  readonly price: number;
  readonly volume: number;
  /** ISO 8601 UTC with milliseconds. */
  readonly ts: string;
  readonly attributes: { readonly venue?: string; readonly side?: string; readonly tags?: readonly string[] };
}

/** A page of `GET <MARKET_API_URL>?after=<seq>&limit=<n>`. */
export interface MarketPage {
  readonly events: readonly unknown[];
  /** Pass as `after` to get the events that follow (the highest seq served so far). */
  readonly next: number;
}

/** One line of a raw file of valid events: the Kafka coordinates and the event as received. */
export interface MarketRawLine {
  readonly partition: number;
  readonly offset: string;
  /** Kafka record timestamp, ms since epoch. */
  readonly timestamp: string;
  readonly key: string | null;
  readonly event: MarketEvent;
}

/** One line of a `_rejected/` file: the record as text and why it was refused. */
export interface MarketRejectedLine {
  readonly partition: number;
  readonly offset: string;
  readonly timestamp: string;
  readonly key: string | null;
  readonly reason: string;
  readonly value: string;
}

export type Checked = { readonly ok: true; readonly event: MarketEvent } | { readonly ok: false; readonly reason: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses and checks one event's text; the reason names the first thing wrong. */
export function checkMarketEvent(text: string): Checked {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (!isObject(v)) return { ok: false, reason: 'not a JSON object' };
  const { event_id, seq, region, instrument, price, volume, ts, attributes } = v;
  if (typeof event_id !== 'string' || event_id === '') return { ok: false, reason: 'missing event_id' };
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq)) return { ok: false, reason: 'seq is not an integer' };
  if (typeof region !== 'string' || region === '') return { ok: false, reason: 'missing region' };
  if (typeof instrument !== 'string' || instrument === '') return { ok: false, reason: 'missing instrument' };
  if (typeof price !== 'number' || !Number.isFinite(price) || price < 0) return { ok: false, reason: `price is not a non-negative number: ${JSON.stringify(price)}` };
  if (typeof volume !== 'number' || !Number.isFinite(volume) || volume < 0) return { ok: false, reason: `volume is not a non-negative number: ${JSON.stringify(volume)}` };
  if (typeof ts !== 'string' || Number.isNaN(Date.parse(ts))) return { ok: false, reason: `ts is not a timestamp: ${JSON.stringify(ts)}` };
  if (attributes !== undefined && !isObject(attributes)) return { ok: false, reason: 'attributes is not an object' };
  return { ok: true, event: v as unknown as MarketEvent };
}

export const MARKET_SOURCE = 'source_d';

/** `market.events+2+000000000120.jsonl`: offsets zero-padded so keys sort in offset order. */
export function marketRawFileName(topic: string, partition: number, startOffset: string): string {
  return `${topic}+${partition}+${startOffset.padStart(12, '0')}.jsonl`;
}

/** The UTC day and hour an event (or, for a malformed one, its Kafka record) belongs to. */
export function eventHour(timeMs: number): { day: string; hour: number } {
  const iso = new Date(timeMs).toISOString();
  return { day: iso.slice(0, 10), hour: Number(iso.slice(11, 13)) };
}
