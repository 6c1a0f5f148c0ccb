/**
 * Source D, raw → curated and operational: an hour of the consumer's raw files becomes
 * that hour of curated.market_events in one commit — each event once, whatever the stream
 * carried twice (a producer retry, an endpoint repeat that got through, a consumer replay):
 * the copy at the lowest (partition, offset) is kept. Regions first seen here join
 * operational.regions. market_daily is then recomputed for the days touched.
 */
import { publishPartition, type Lineage, type PublishResult } from '../lake/publish.ts';
import { rawDayPrefix } from '../lake/raw.ts';
import { sqlString, type LakeSession } from '../lake/session.ts';
import { ensureTables, LINEAGE_COMMITS, qualified } from '../lake/tables.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { addDays, assertDay } from '../time/days.ts';
import { addRegionsSeen } from '../weather/regions.ts';
import { MARKET_SOURCE } from './events.ts';
import { CURATED_MARKET_EVENTS, MARKET_TABLES, OPERATIONAL_MARKET_DAILY } from './tables.ts';

const LINE_COLUMNS = `{"partition": 'INTEGER', "offset": 'VARCHAR', "timestamp": 'VARCHAR', "key": 'VARCHAR',
  "event": 'STRUCT(event_id VARCHAR, seq BIGINT, region VARCHAR, instrument VARCHAR, price DOUBLE, volume DOUBLE, ts TIMESTAMPTZ,
    attributes STRUCT(venue VARCHAR, side VARCHAR, tags VARCHAR[]))'}`;

export interface CompactedHour extends PublishResult {
  readonly day: string;
  readonly hour: number;
  readonly files: number;
  /** Events the raw files held, copies included (not known when a SparkApplication compacted the hour: its driver's output reaches nobody). */
  readonly rawEvents?: number;
  /** Regions first seen in this hour (not known after a SparkApplication, as rawEvents). */
  readonly regionsAdded?: readonly string[];
}

/** The raw files of an hour of source D, in key order. */
export async function marketHourKeys(store: ObjectStore, day: string, hour: number): Promise<string[]> {
  const keys: string[] = [];
  for await (const { key } of store.list(rawDayPrefix(MARKET_SOURCE, day, hour))) if (key.endsWith('.jsonl')) keys.push(key);
  return keys.sort();
}

export async function compactMarketHour(session: LakeSession, store: ObjectStore, input: { day: string; hour: number; lineage: Lineage }): Promise<CompactedHour> {
  await ensureTables(session, [...MARKET_TABLES, LINEAGE_COMMITS]);
  const keys = await marketHourKeys(store, input.day, input.hour);
  const empty = { day: input.day, hour: input.hour, files: 0, rawEvents: 0, regionsAdded: [], rows: 0, rejected: 0, retries: 0 };
  if (keys.length === 0) return empty;
  const files = `[${keys.map((k) => sqlString(store.locationOf(k))).join(', ')}]`;
  await session.run(`CREATE OR REPLACE TEMP TABLE market_hour AS
    SELECT "partition", CAST("offset" AS BIGINT) AS "offset", event, filename FROM read_json(${files}, format = 'newline_delimited', columns = ${LINE_COLUMNS}, filename = true)`);
  const [raw] = await session.rows<{ n: string }>('SELECT count(*) AS n FROM market_hour');
  const regions = (await session.rows<{ r: string }>('SELECT DISTINCT event.region AS r FROM market_hour WHERE event.region IS NOT NULL')).map((r) => r.r);
  const hourStart = `TIMESTAMPTZ ${sqlString(`${input.day} ${String(input.hour).padStart(2, '0')}:00:00+00`)}`;
  const result = await publishPartition(session, {
    table: CURATED_MARKET_EVENTS,
    source: MARKET_SOURCE,
    ingestDay: input.day,
    replaceWhere: `"day" = DATE ${sqlString(input.day)} AND "hour" = ${input.hour}`,
    scope: `day=${input.day} hour=${String(input.hour).padStart(2, '0')}`,
    rowsSql: `SELECT e.event_id, e.seq, e.region, e.instrument, e.price, e.volume, e.ts, e.attributes.venue, e.attributes.side, e.attributes.tags,
        DATE ${sqlString(input.day)}, ${input.hour}, "partition", "offset", filename
      FROM (SELECT event AS e, "partition", "offset", filename FROM market_hour
        -- The consumer files an event under the hour of its own timestamp; anything else is not this hour's.
        WHERE event.ts >= ${hourStart} AND event.ts < ${hourStart} + INTERVAL 1 HOUR
        -- filename breaks the tie when two files hold the same copy: the pick is deterministic (as the Spark job's).
        QUALIFY row_number() OVER (PARTITION BY event.event_id ORDER BY "partition", "offset", filename) = 1)`,
    lineage: { ...input.lineage, inputs: keys.map((key) => ({ key, sha256: '' })) },
  });
  const { added } = await addRegionsSeen(session, regions, MARKET_SOURCE);
  return { ...result, day: input.day, hour: input.hour, files: keys.length, rawEvents: Number(raw?.n ?? 0), regionsAdded: added };
}

/** Recomputes market_daily for from..to (the 30 days before are read for market_interest). */
export async function refreshMarketDaily(session: LakeSession, input: { from: string; to: string; lineage: Lineage }): Promise<PublishResult> {
  assertDay(input.from, 'from');
  assertDay(input.to, 'to');
  await ensureTables(session, [...MARKET_TABLES, LINEAGE_COMMITS]);
  const from = `DATE ${sqlString(input.from)}`;
  const to = `DATE ${sqlString(input.to)}`;
  return publishPartition(session, {
    table: OPERATIONAL_MARKET_DAILY,
    source: MARKET_SOURCE,
    ingestDay: input.to,
    replaceWhere: `"day" BETWEEN ${from} AND ${to}`,
    scope: `day=${input.from}..${input.to}`,
    // Earlier days come from market_daily itself: days before `from`, which this publish leaves alone.
    rowsSql: `WITH days AS (
        SELECT region, "day", count(*) AS events, count(DISTINCT instrument) AS instruments, sum(volume) AS volume,
          avg(price ORDER BY event_id) AS avg_price, sum(price * volume ORDER BY event_id) / nullif(sum(volume), 0) AS vwap
        FROM ${qualified(CURATED_MARKET_EVENTS)} WHERE "day" BETWEEN ${from} AND ${to} GROUP BY region, "day"
      ), series AS (
        SELECT region, "day", volume, false AS earlier FROM days
        UNION ALL
        SELECT region, "day", volume, true FROM ${qualified(OPERATIONAL_MARKET_DAILY)} WHERE "day" BETWEEN ${sqlString(addDays(input.from, -30))} AND ${sqlString(addDays(input.from, -1))}
      ), interest AS (
        SELECT region, "day", earlier,
          volume / avg(volume) OVER (PARTITION BY region ORDER BY "day" RANGE BETWEEN INTERVAL 30 DAYS PRECEDING AND INTERVAL 1 DAY PRECEDING) AS market_interest
        FROM series
      )
      SELECT d.region, d."day", d.events, d.instruments, d.volume, d.avg_price, d.vwap, i.market_interest
      FROM days d JOIN interest i ON i.region = d.region AND i."day" = d."day" AND NOT i.earlier`,
    lineage: input.lineage,
  });
}
