/**
 * `lake backfill` on the stream sources, end to end on real servers (a Temporal dev server with
 * workers on the real task queues, a lake of the test's own, the weather simulator):
 *
 * - Weather (source C): days W1..W3 and W5..W6 backfilled by `backfillWeather`; the catalog names
 *   W4 and only W4 missing in curated.weather_observed and operational.weather_daily; the plan is
 *   one weather backfill of W4..W4 (consecutive days share one), which `repairDataset` runs as
 *   `backfill:weather:W4:W4` on the ingest queue. While the provider's archive does not reach W4
 *   the backfill's child fails and the repair says `failed`; once it does, every day is published
 *   and the other days' rows are untouched.
 * - Market (source D): raw hours of M1..M4 landed as the Kafka consumer lands them (files with
 *   sidecars, a copy of an event on a second partition); M1, M3 and M4 compacted, then M3's
 *   curated rows deleted. The catalog over M1..M3 names M2 (never published) and M3 (published,
 *   none of its rows left) missing; the plan is one compaction per day, which the repair runs as
 *   `compact:market:day=<day>` on the process queue; afterwards M2 and M3 hold exactly the raw
 *   events (M3 the very rows its first compaction wrote), M1 and M4 keep their data files, and
 *   market_daily has M2.
 * - Downstream (the last two tests, on what the first two left): the aggregates whose windows
 *   read earlier days — weather_rolling, market_daily's market_interest — must count a repaired
 *   day on the days after it, as a recomputation from the lake gives them.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { buildCatalog, type Catalog, type DatasetStatus } from '../lib/catalog/build.ts';
import { planRepair, repairCatalogRequest, repairWorkflowId, type RepairItem, type RepairKind } from '../lib/catalog/repair-plan.ts';
import { createS3Client } from '../lib/clients/s3.ts';
import { loadConfig, type Config } from '../lib/config.ts';
import { overwriteRawFile, rawDayPrefix } from '../lib/lake/raw.ts';
import { openLakeSession } from '../lib/lake/session.ts';
import { createLakeStore } from '../lib/lake/store.ts';
import { marketRawFileName, type MarketEvent, type MarketRawLine } from '../lib/market/events.ts';
import type { ObjectStore } from '../lib/storage/object-store.ts';
import { PARTITION_DAY, SOURCE, ZONE } from '../lib/temporal/search-attributes.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { addDays, daysBetween } from '../lib/time/days.ts';
import { marketEventValue } from '../simulators/market/model.ts';
import { startWeatherSimulator, type WeatherSimulator } from '../simulators/weather/server.ts';
import { compactMarket } from '../workflows/market.ts';
import { repairDataset, type RepairState } from '../workflows/repair.ts';
import { backfillWeather, weatherBackfillWorkflowId, weatherHistoryWorkflowId } from '../workflows/weather.ts';
import { withSession } from './helpers/file-env.ts';
import { startTestLake, weatherLakeEnv, type TestLake } from './helpers/lake.ts';
import { startTemporalTestServer, type TemporalTestServer } from './helpers/temporal.ts';

/** The weather simulator's clock: every day below is long in its archive. */
const SIM_NOW = new Date('2026-11-25T14:20:00Z');
/** "Now" for the catalog: every day below is due. */
const LATER = new Date('2030-01-01T00:00:00Z');
const REGIONS = [
  { id: 'r01', name: 'Paris', latitude: 48.8566, longitude: 2.3522, country: 'FR' },
  { id: 'r02', name: 'Berlin', latitude: 52.52, longitude: 13.405, country: 'DE' },
];
const REGION_IDS = REGIONS.map((r) => r.id);

const W = daysBetween('2024-03-01', '2024-03-06'); // W1..W6
const WEATHER_WINDOW = { from: W[0] as string, to: W[5] as string };
const W4 = W[3] as string;
const WEATHER_DATASETS = ['curated.weather_observed', 'operational.weather_daily'];

const M = daysBetween('2024-03-11', '2024-03-13'); // M1..M3
const [M1, M2, M3] = M as [string, string, string];
const MARKET_WINDOW = { from: M1, to: M3 };
/** The day after the repair's window: compacted and fine, but its market_interest reads M1..M3. */
const M4 = addDays(M3, 1);
const MARKET_DATASETS = ['curated.market_events', 'operational.market_daily'];
/** Hours of a day with events; the others are empty, as a quiet hour of the stream writes nothing. */
const MARKET_HOURS = [0, 7, 15, 23];
const EVENTS_PER_HOUR = 6;
const TOPIC = 'market.events';
const MODEL = { seed: 'repair-streams', malformedRate: 0 };

/** An event as the lake must hold it after compaction: the copy at the lowest (partition, offset). */
interface ExpectedEvent {
  readonly event_id: string;
  readonly seq: string;
  readonly hour: string;
  readonly partition: string;
  readonly offset: string;
}

describe('lake backfill repairs the weather and market datasets', () => {
  let lake: TestLake;
  let sim: WeatherSimulator;
  let config: Config;
  let temporal: TemporalTestServer;
  let store: ObjectStore;

  before(async () => {
    lake = await startTestLake({ storage: 'local' });
    sim = await startWeatherSimulator({ now: () => SIM_NOW });
    config = loadConfig({ ...process.env, ...weatherLakeEnv(lake, sim.url, REGIONS), WEATHER_MAX_ATTEMPTS: '3' });
    store = createLakeStore(config, createS3Client(config));
    temporal = await startTemporalTestServer(config);
  });
  after(async () => {
    await temporal?.teardown();
    await sim?.close();
    await lake?.stop();
  });

  // ------------------------------------------------------------------ helpers

  const build = (req: { datasets: readonly string[]; from: string; to: string }): Promise<Catalog> =>
    buildCatalog({ config, store, openSession: () => openLakeSession(config), temporal: temporal.client }, { ...req, datasets: [...req.datasets], now: LATER });
  const find = (c: Catalog, name: string): DatasetStatus => {
    const d = c.datasets.find((x) => x.name === name);
    assert.ok(d, `dataset ${name} in the catalog`);
    return d;
  };
  const states = (d: DatasetStatus): Record<string, string> => Object.fromEntries(d.partitions.map((p) => [p.day, p.state]));
  const allPublished = (days: readonly string[]): Record<string, string> => Object.fromEntries(days.map((d) => [d, 'published']));
  /** The plan `lake backfill <name> --<kinds>` makes: a catalog built as repairCatalogRequest says, then planRepair. */
  const plan = async (name: string, window: { from: string; to: string }, kinds: readonly RepairKind[]): Promise<RepairItem[]> =>
    planRepair(config, await build(repairCatalogRequest(config, name, window)), name, window, kinds);

  /** Polls Temporal's visibility (eventually consistent) until `check` holds; at most `ms`. */
  const until = async (what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> => {
    for (const deadline = Date.now() + ms; !(await check()); await sleep(100)) {
      if (Date.now() > deadline) assert.fail(`${what} within ${ms / 1000} s`);
    }
  };
  const count = async (query: string): Promise<number> => (await temporal.client.workflow.count(query)).count;
  /** No run holds a dataset day any more (the catalog would call it running), and `closed` are listed closed, Completed (an ID run before too: its newest run). */
  const settled = async (closed: readonly string[]): Promise<void> => {
    try {
      await until(`visibility lists no running dataset run and ${closed.join(', ')} as Completed`, async () => {
        if ((await count(`ExecutionStatus = 'Running' AND PartitionDay IS NOT NULL`)) > 0) return false;
        for (const id of closed) {
          if ((await count(`WorkflowId = '${id}' AND ExecutionStatus = 'Running'`)) > 0) return false;
          if ((await count(`WorkflowId = '${id}' AND ExecutionStatus = 'Completed'`)) === 0) return false;
        }
        return true;
      });
    } catch (err) {
      const listed: string[] = [];
      for await (const w of temporal.client.workflow.list({ query: `ExecutionStatus = 'Running' OR WorkflowId IN (${closed.map((id) => `'${id}'`).join(', ')})` })) {
        listed.push(`${w.workflowId} ${w.status.name} PartitionDay=${w.typedSearchAttributes.get(PARTITION_DAY) ?? '-'}`);
      }
      throw new Error(`${(err as Error).message}; listed: ${listed.join('; ')}`, { cause: err });
    }
  };

  const repair = (dataset: string, window: { from: string; to: string }, kinds: RepairKind[], items: RepairItem[]): Promise<RepairState> =>
    temporal.withWorker(() =>
      temporal.client.workflow.execute(repairDataset, {
        taskQueue: TASK_QUEUES.ingest,
        workflowId: repairWorkflowId(dataset, window.from, window.to, kinds),
        args: [{ dataset, items }],
      }),
    );

  /** A repair's child as Temporal describes it: its queue, status, parent and search attributes. */
  const child = async (workflowId: string) => {
    const d = await temporal.client.workflow.getHandle(workflowId).describe();
    return {
      type: d.type,
      taskQueue: d.taskQueue,
      status: d.status.name,
      parent: d.parentExecution?.workflowId,
      source: d.typedSearchAttributes.get(SOURCE),
      partitionDay: d.typedSearchAttributes.get(PARTITION_DAY),
    };
  };

  // ------------------------------------------------------------------ weather

  /** A day's rows of both weather tables: operational.weather_daily in full, curated.weather_observed as count and checksum. */
  const weatherDay = (day: string): Promise<{ daily: string[]; observed: { n: string; h: string } | undefined }> =>
    withSession(config, async (s) => {
      const daily = await s.rows<{ j: string }>(`SELECT CAST(to_json(t) AS VARCHAR) AS j FROM lake.operational.weather_daily t WHERE "day" = DATE '${day}' ORDER BY region_id`);
      const [observed] = await s.rows<{ n: string; h: string }>(
        `SELECT CAST(count(*) AS VARCHAR) AS n, CAST(coalesce(sum(hash(CAST(to_json(t) AS VARCHAR))), 0) AS VARCHAR) AS h FROM lake.curated.weather_observed t WHERE "day" = DATE '${day}'`,
      );
      return { daily: daily.map((r) => r.j), observed };
    });

  it('weather: the catalog names the day no backfill covered; the repair backfills that day alone and leaves the others as they were', { timeout: 300_000 }, async (t) => {
    // Days W1..W3 and W5..W6 through the weather backfill workflow, as `lake backfill weather` runs it.
    const ranges = [
      { from: W[0] as string, to: W[2] as string },
      { from: W[4] as string, to: W[5] as string },
    ];
    const done = await temporal.withWorker((taskQueue) =>
      Promise.all(ranges.map((r) => temporal.client.workflow.execute(backfillWeather, { taskQueue, workflowId: weatherBackfillWorkflowId(r), args: [r] }))),
    );
    for (const [i, r] of ranges.entries()) {
      assert.deepEqual(done[i]?.failed, [], `backfill ${r.from}..${r.to}`);
      assert.equal(done[i]?.hours, daysBetween(r.from, r.to).length * 24 * REGIONS.length);
    }
    await settled(ranges.map((r) => weatherBackfillWorkflowId(r)));

    // The catalog: W4 and only W4 missing, in both datasets, for the reason that nothing was published.
    const catalog = await build({ datasets: WEATHER_DATASETS, ...WEATHER_WINDOW });
    for (const name of WEATHER_DATASETS) {
      const d = find(catalog, name);
      assert.deepEqual(states(d), { ...allPublished(W), [W4]: 'missing' }, name);
      assert.deepEqual(d.counts, { published: 5, stale: 0, failed: 0, running: 0, missing: 1 }, name);
      assert.equal(d.partitions.find((p) => p.day === W4)?.reason, `nothing published; due ${addDays(W4, 1)}T02:00:00.000Z`, name);
      // Lineage is real: the published days name the backfill child that committed them.
      assert.equal(d.partitions.find((p) => p.day === W[1])?.workflowId, weatherHistoryWorkflowId(ranges[0] as { from: string; to: string }, REGION_IDS), name);
      assert.equal(d.partitions.find((p) => p.day === W[5])?.workflowId, weatherHistoryWorkflowId(ranges[1] as { from: string; to: string }, REGION_IDS), name);
    }

    // The plan: one weather backfill of W4..W4, from either dataset.
    assert.deepEqual(repairCatalogRequest(config, 'operational.weather_daily', WEATHER_WINDOW), { datasets: ['operational.weather_daily'], ...WEATHER_WINDOW });
    const items = await plan('operational.weather_daily', WEATHER_WINDOW, ['missing']);
    for (const i of items) t.diagnostic(`${i.action} ${i.source} ${i.day}..${i.to}: ${i.repairs.map((r) => `${r.dataset} ${r.day} ${r.state}`).join(', ')}`);
    assert.deepEqual(items, [
      {
        action: 'weather',
        source: 'source_c',
        day: W4,
        to: W4,
        repairs: [{ dataset: 'operational.weather_daily', day: W4, state: 'missing', reason: `nothing published; due ${addDays(W4, 1)}T02:00:00.000Z` }],
        // The rolling windows of the days after W4, through the newest published day, are refreshed too.
        downstreamTo: W[W.length - 1],
      },
    ]);
    assert.deepEqual(
      (await plan('curated.weather_observed', WEATHER_WINDOW, ['missing'])).map((i) => `${i.action} ${i.day}..${i.to}`),
      [`weather ${W4}..${W4}`],
    );
    // Consecutive problem days share one backfill: with W7 and W8 (never fetched) in the window, W4 alone and W7..W8 together.
    const wider = { from: WEATHER_WINDOW.from, to: addDays(WEATHER_WINDOW.to, 2) };
    const widerItems = await plan('operational.weather_daily', wider, ['missing']);
    assert.deepEqual(
      widerItems.map((i) => `${i.action} ${i.day}..${i.to} ${i.repairs.map((r) => r.day).join(',')}`),
      [`weather ${W4}..${W4} ${W4}`, `weather ${addDays(W4, 3)}..${addDays(W4, 4)} ${addDays(W4, 3)},${addDays(W4, 4)}`],
    );
    // Only the kinds asked for: nothing is stale or failed.
    assert.deepEqual(await plan('operational.weather_daily', WEATHER_WINDOW, ['stale', 'failed']), []);

    const others = W.filter((d) => d !== W4);
    const beforeRows = await Promise.all(others.map(weatherDay));
    for (const [i, d] of others.entries()) {
      assert.equal(beforeRows[i]?.daily.length, REGIONS.length, `weather_daily ${d}`);
      assert.equal(beforeRows[i]?.observed?.n, String(24 * REGIONS.length), `weather_observed ${d}`);
    }
    assert.deepEqual(await weatherDay(W4), { daily: [], observed: { n: '0', h: '0' } });

    const repairId = repairWorkflowId('operational.weather_daily', WEATHER_WINDOW.from, WEATHER_WINDOW.to, ['missing']);
    const childId = weatherBackfillWorkflowId({ from: W4, to: W4 });
    assert.equal(childId, `backfill:weather:${W4}:${W4}`);
    const historyId = weatherHistoryWorkflowId({ from: W4, to: W4 }, REGION_IDS);

    // First while the provider's archive does not reach W4 yet (its clock on W3): the backfill completes with its
    // child failed (the archive's 400 is not retried), and the repair counts the day failed, with the archive's words.
    sim.setNow(new Date(`${W[2]}T12:00:00Z`));
    let early: RepairState;
    try {
      early = await repair('operational.weather_daily', WEATHER_WINDOW, ['missing'], items);
    } finally {
      sim.setNow(undefined);
    }
    assert.equal(early.outcomes.length, 1);
    assert.deepEqual({ ...early.outcomes[0], detail: undefined }, { workflowId: childId, day: W4, action: 'weather', outcome: 'failed', detail: undefined });
    assert.match(early.outcomes[0]?.detail ?? '', new RegExp(`^${historyId.replaceAll('+', '\\+')}: .*HTTP 400.*allowed range`), early.outcomes[0]?.detail);
    assert.deepEqual(await weatherDay(W4), { daily: [], observed: { n: '0', h: '0' } }, 'nothing of W4 was published');
    await settled([repairId, childId]);
    // The catalog calls W4 failed in both datasets, in the archive's words: the run failed fetching (Zone raw),
    // before it reached either table.
    const failed = await build({ datasets: WEATHER_DATASETS, ...WEATHER_WINDOW });
    for (const name of WEATHER_DATASETS) {
      const p = find(failed, name).partitions.find((x) => x.day === W4);
      assert.deepEqual({ state: p?.state, workflowId: p?.workflowId }, { state: 'failed', workflowId: historyId }, name);
      assert.match(p?.reason ?? '', /HTTP 400.*allowed range/, name);
    }
    // Planned again, W4 is still to repair: as failed now.
    assert.deepEqual(
      (await plan('operational.weather_daily', WEATHER_WINDOW, ['failed'])).map((i) => `${i.action} ${i.day}..${i.to}`),
      [`weather ${W4}..${W4}`],
    );

    // Then with the archive there: the same repair, started again, repairs the day.
    const requestsBefore = sim.stats().requests;
    const state = await repair('operational.weather_daily', WEATHER_WINDOW, ['missing'], items);
    assert.deepEqual(state, { next: 1, outcomes: [{ workflowId: childId, day: W4, action: 'weather', outcome: 'repaired' }] });
    assert.equal(sim.stats().requests - requestsBefore, REGIONS.length, 'one archive request per region, for W4 alone');
    assert.deepEqual(await child(childId), {
      type: 'backfillWeather',
      taskQueue: TASK_QUEUES.ingest,
      status: 'COMPLETED',
      parent: repairId,
      source: 'source_c',
      partitionDay: W4,
    });
    await settled([repairId, childId]);

    // Every day published in both datasets; W4 by the repair's own backfill child.
    const repaired = await build({ datasets: WEATHER_DATASETS, ...WEATHER_WINDOW });
    for (const name of WEATHER_DATASETS) {
      const d = find(repaired, name);
      assert.deepEqual(states(d), allPublished(W), name);
      const p = d.partitions.find((x) => x.day === W4);
      assert.equal(p?.workflowId, historyId, name);
      assert.equal(p?.reason, undefined);
    }
    const w4 = await withSession(config, (s) =>
      s.rows<{ region_id: string; hours: number }>(`SELECT region_id, hours FROM lake.operational.weather_daily WHERE "day" = DATE '${W4}' ORDER BY region_id`),
    );
    assert.deepEqual(w4, REGION_IDS.map((region_id) => ({ region_id, hours: 24 })), 'W4: a complete day per region');
    assert.equal((await weatherDay(W4)).observed?.n, String(24 * REGIONS.length));
    // The other days' rows are untouched.
    assert.deepEqual(await Promise.all(others.map(weatherDay)), beforeRows, 'the days that were fine keep their rows');

    // Planned again: nothing left.
    assert.deepEqual(await plan('operational.weather_daily', WEATHER_WINDOW, ['missing', 'stale', 'failed']), []);
    assert.deepEqual(await plan('curated.weather_observed', WEATHER_WINDOW, ['missing', 'stale', 'failed']), []);
  });

  // ------------------------------------------------------------------ market

  let seq = 0;
  /** The lines of every raw file landed, by key. */
  const marketFiles = new Map<string, MarketRawLine[]>();
  /** The next Kafka offset of each partition. */
  const offsets = new Map<number, number>();
  /** Lands the raw hours of `day` as the Kafka consumer does; returns the events compaction must keep. */
  const landMarketDay = async (day: string): Promise<ExpectedEvent[]> => {
    const expected: ExpectedEvent[] = [];
    const land = async (hour: number, partition: number, events: readonly MarketEvent[]): Promise<void> => {
      const first = offsets.get(partition) ?? 0;
      const lines: MarketRawLine[] = events.map((event, i) => ({
        partition,
        offset: String(first + i),
        timestamp: String(Date.parse(event.ts) + 40),
        key: event.region,
        event,
      }));
      offsets.set(partition, first + events.length);
      // As the consumer writes them: the file, then its sidecar.
      const key = rawDayPrefix('source_d', day, hour) + marketRawFileName(TOPIC, partition, String(first));
      marketFiles.set(key, lines);
      await overwriteRawFile(store, key, lines.map((l) => JSON.stringify(l)).join('\n') + '\n', {
        origin: `kafka://${TOPIC}/${partition}`,
        fetchedAt: `${day}T${String(hour).padStart(2, '0')}:59:00.000Z`,
      });
    };
    for (const hour of MARKET_HOURS) {
      const start = Date.parse(`${day}T${String(hour).padStart(2, '0')}:00:00Z`);
      const events = Array.from({ length: EVENTS_PER_HOUR }, (_, i) => {
        seq++;
        return marketEventValue(MODEL, seq, start + i * 7 * 60_000 + 1_234) as MarketEvent;
      });
      // Two files of partition 0 in the hour (a file closes at max events), in offset order.
      const half = EVENTS_PER_HOUR / 2;
      const base = offsets.get(0) ?? 0;
      await land(hour, 0, events.slice(0, half));
      await land(hour, 0, events.slice(half));
      events.forEach((e, i) => expected.push({ event_id: e.event_id, seq: String(e.seq), hour: String(hour), partition: '0', offset: String(base + i) }));
      // A copy of the hour's first event on partition 1 (a producer retry): compaction keeps partition 0's.
      await land(hour, 1, [events[0] as MarketEvent]);
    }
    return expected.sort((a, b) => a.event_id.localeCompare(b.event_id));
  };

  const hoursOf = (day: string): string[] => Array.from({ length: 24 }, (_, h) => `${day}T${String(h).padStart(2, '0')}`);

  /** A day's rows of curated.market_events in full, its live data files, and the kept copies. */
  const marketDay = (day: string) =>
    withSession(config, async (s) => {
      const rows = await s.rows<{ j: string }>(`SELECT CAST(to_json(t) AS VARCHAR) AS j FROM lake.curated.market_events t WHERE "day" = DATE '${day}' ORDER BY event_id`);
      const files = await s.rows<{ f: string }>(
        `SELECT file_path AS f FROM iceberg_metadata(lake.curated.market_events) WHERE status <> 'DELETED' AND manifest_content = 'DATA' AND file_path LIKE '%day=${day}/%' ORDER BY 1`,
      );
      const kept = await s.rows<ExpectedEvent>(
        `SELECT event_id, CAST(seq AS VARCHAR) AS seq, CAST("hour" AS VARCHAR) AS hour, CAST(_kafka_partition AS VARCHAR) AS partition, CAST(_offset AS VARCHAR) AS "offset"
         FROM lake.curated.market_events WHERE "day" = DATE '${day}' ORDER BY event_id`,
      );
      const [ids] = await s.rows<{ n: string; ids: string }>(
        `SELECT CAST(count(*) AS VARCHAR) AS n, CAST(count(DISTINCT event_id) AS VARCHAR) AS ids FROM lake.curated.market_events WHERE "day" = DATE '${day}'`,
      );
      return { rows: rows.map((r) => r.j), files: files.map((r) => r.f), kept, n: ids?.n, ids: ids?.ids };
    });
  const dailyEvents = (day: string) =>
    withSession(config, async (s) => {
      const [r] = await s.rows<{ regions: string; events: string }>(
        `SELECT CAST(count(*) AS VARCHAR) AS regions, CAST(coalesce(sum(events), 0) AS VARCHAR) AS events FROM lake.operational.market_daily WHERE "day" = DATE '${day}'`,
      );
      return r;
    });

  it('market: the catalog names the day never compacted and the day deleted since; the repair compacts exactly those days again', { timeout: 300_000 }, async (t) => {
    const expected = new Map<string, ExpectedEvent[]>();
    for (const day of [...M, M4]) expected.set(day, await landMarketDay(day));
    const perDay = MARKET_HOURS.length * EVENTS_PER_HOUR;

    // M1, M3 and M4 compacted as the schedule would have (M4 last, as its day came last); M2 never was.
    const setupId = (d: string): string => `compact:market:day=${d}:setup`;
    const setupIds = [M1, M3, M4].map(setupId);
    const compactDay = (d: string) => temporal.client.workflow.execute(compactMarket, { taskQueue: TASK_QUEUES.process, workflowId: setupId(d), args: [{ hours: hoursOf(d) }] });
    const compacted = await temporal.withWorker(async () => [...(await Promise.all([M1, M3].map(compactDay))), await compactDay(M4)]);
    for (const r of compacted) assert.equal(r.hours.reduce((n, h) => n + h.rows, 0), perDay);
    const m4Before = await marketDay(M4);
    const m1Before = await marketDay(M1);
    const m3Direct = await marketDay(M3);
    assert.deepEqual(m1Before.kept, expected.get(M1));
    assert.deepEqual(m3Direct.kept, expected.get(M3));
    assert.ok(m1Before.files.length >= 1, 'M1 has data files');
    // M3's rows deleted behind the catalog's back.
    await withSession(config, (s) => s.run(`DELETE FROM lake.curated.market_events WHERE "day" = DATE '${M3}'`));
    assert.equal((await marketDay(M3)).n, '0');
    await settled(setupIds);

    const catalog = await build({ datasets: MARKET_DATASETS, ...MARKET_WINDOW });
    const events = find(catalog, 'curated.market_events');
    assert.deepEqual(states(events), { [M1]: 'published', [M2]: 'missing', [M3]: 'missing' });
    const byDay = new Map(events.partitions.map((p) => [p.day, p]));
    assert.equal(byDay.get(M1)?.rows, perDay);
    assert.equal(byDay.get(M2)?.reason, `nothing published; due ${addDays(M2, 1)}T01:00:00.000Z`);
    assert.match(byDay.get(M3)?.reason ?? '', /^published \S+ \(\d+ rows\), but the table holds none of its rows now$/);
    assert.deepEqual(states(find(catalog, 'operational.market_daily')), { [M1]: 'published', [M2]: 'missing', [M3]: 'published' });

    // The plan: one compaction per day, in day order.
    assert.deepEqual(repairCatalogRequest(config, 'curated.market_events', MARKET_WINDOW), { datasets: ['curated.market_events'], ...MARKET_WINDOW });
    const items = await plan('curated.market_events', MARKET_WINDOW, ['missing']);
    for (const i of items) t.diagnostic(`${i.action} ${i.source} ${i.day}: ${i.repairs.map((r) => `${r.dataset} ${r.day} ${r.state} (${r.reason})`).join(', ')}`);
    assert.deepEqual(
      items.map((i) => ({ action: i.action, source: i.source, day: i.day, to: i.to, downstreamTo: i.downstreamTo, repairs: i.repairs.map((r) => `${r.dataset} ${r.day} ${r.state}`) })),
      // market_interest of the days after each, through the newest published day (M4), is refreshed too.
      [M2, M3].map((day) => ({ action: 'market', source: 'source_d', day, to: undefined, downstreamTo: M4, repairs: [`curated.market_events ${day} missing`] })),
    );
    // market_daily's own plan: M2 only (M3's aggregate is still there).
    assert.deepEqual((await plan('operational.market_daily', MARKET_WINDOW, ['missing'])).map((i) => `${i.action} ${i.day}`), [`market ${M2}`]);

    // The repair, on Temporal.
    const repairId = repairWorkflowId('curated.market_events', MARKET_WINDOW.from, MARKET_WINDOW.to, ['missing']);
    const state = await repair('curated.market_events', MARKET_WINDOW, ['missing'], items);
    const childIds = [M2, M3].map((d) => `compact:market:day=${d}`);
    assert.deepEqual(
      [...state.outcomes].sort((a, b) => a.day.localeCompare(b.day)),
      [M2, M3].map((day, i) => ({ workflowId: childIds[i], day, action: 'market', outcome: 'repaired' })),
    );
    for (const [i, day] of [M2, M3].entries()) {
      assert.deepEqual(await child(childIds[i] as string), {
        type: 'compactMarket',
        taskQueue: TASK_QUEUES.process,
        status: 'COMPLETED',
        parent: repairId,
        source: 'source_d',
        partitionDay: day,
      });
      assert.equal((await temporal.client.workflow.getHandle(childIds[i] as string).describe()).typedSearchAttributes.get(ZONE), 'operational');
    }
    await settled([repairId, ...childIds]);

    const repaired = await build({ datasets: MARKET_DATASETS, ...MARKET_WINDOW });
    assert.deepEqual(states(find(repaired, 'curated.market_events')), allPublished(M));
    assert.deepEqual(states(find(repaired, 'operational.market_daily')), allPublished(M));
    for (const [i, day] of [M2, M3].entries()) {
      const p = find(repaired, 'curated.market_events').partitions.find((x) => x.day === day);
      assert.equal(p?.rows, perDay, day);
      assert.equal(p?.workflowId, childIds[i], `${day} published by the repair's compaction`);
      assert.equal(find(repaired, 'operational.market_daily').partitions.find((x) => x.day === day)?.workflowId, childIds[i], `market_daily ${day}`);
    }

    // M2 and M3 hold exactly the raw events, each once (the copy at the lowest coordinates); M3 the very rows its first compaction wrote.
    const m2 = await marketDay(M2);
    assert.deepEqual({ n: m2.n, ids: m2.ids }, { n: String(perDay), ids: String(perDay) });
    assert.deepEqual(m2.kept, expected.get(M2));
    const m3 = await marketDay(M3);
    assert.deepEqual({ n: m3.n, ids: m3.ids }, { n: String(perDay), ids: String(perDay) });
    assert.deepEqual(m3.rows, m3Direct.rows, 'M3 as a direct compaction gives it');
    // M1 untouched: the same data files and rows.
    const m1After = await marketDay(M1);
    assert.deepEqual(m1After.files, m1Before.files, 'M1 keeps its data files');
    assert.deepEqual(m1After.rows, m1Before.rows);
    const m4After = await marketDay(M4);
    assert.deepEqual({ files: m4After.files, rows: m4After.rows }, { files: m4Before.files, rows: m4Before.rows }, 'M4, outside the window, keeps its data files and rows');
    // market_daily has M2 now, counting each of its events.
    assert.equal((await dailyEvents(M2))?.events, String(perDay));
    assert.equal((await dailyEvents(M3))?.events, String(perDay));

    // Planned again: nothing left, for either dataset.
    assert.deepEqual(await plan('curated.market_events', MARKET_WINDOW, ['missing', 'stale', 'failed']), []);
    assert.deepEqual(await plan('operational.market_daily', MARKET_WINDOW, ['missing', 'stale', 'failed']), []);
  });

  // ------------------------------------------------------------------ downstream of a repaired day

  /*
   * weather_rolling (7/30-day windows over weather_daily) and market_daily's market_interest (a
   * day's volume over the 30 days before) read the days before their own: a day repaired into the
   * lake changes the values of the days after it. The repair is right only if those equal a
   * recomputation from what the lake holds once it is done, as a backfill of the whole range in
   * day order would leave them.
   */
  const round = (x: unknown): string => (x === null || x === undefined ? 'null' : Number(x).toFixed(9));

  it('after the weather repair, weather_rolling of the days after W4 counts W4 in its windows', async () => {
    await withSession(config, async (s) => {
      // weather_rolling's observed days W1..W6 against the daily rows they are averaged from.
      const rolling = await s.rows<{ region_id: string; day: string; t7: number; t30: number; n7: number; n30: number }>(
        `SELECT region_id, CAST("day" AS VARCHAR) AS day, temperature_avg_7d AS t7, temperature_avg_30d AS t30, days_in_7d AS n7, days_in_30d AS n30
         FROM lake.operational.weather_rolling WHERE NOT is_forecast AND "day" BETWEEN DATE '${WEATHER_WINDOW.from}' AND DATE '${WEATHER_WINDOW.to}' ORDER BY 1, 2`,
      );
      const recomputed = await s.rows<{ region_id: string; day: string; t7: number; t30: number; n7: number; n30: number }>(
        `SELECT region_id, CAST("day" AS VARCHAR) AS day,
           avg(temperature_avg) OVER (PARTITION BY region_id ORDER BY "day" RANGE BETWEEN INTERVAL 6 DAYS PRECEDING AND CURRENT ROW) AS t7,
           avg(temperature_avg) OVER (PARTITION BY region_id ORDER BY "day" RANGE BETWEEN INTERVAL 29 DAYS PRECEDING AND CURRENT ROW) AS t30,
           CAST(count(*) OVER (PARTITION BY region_id ORDER BY "day" RANGE BETWEEN INTERVAL 6 DAYS PRECEDING AND CURRENT ROW) AS INTEGER) AS n7,
           CAST(count(*) OVER (PARTITION BY region_id ORDER BY "day" RANGE BETWEEN INTERVAL 29 DAYS PRECEDING AND CURRENT ROW) AS INTEGER) AS n30
         FROM lake.operational.weather_daily WHERE "day" BETWEEN DATE '${WEATHER_WINDOW.from}' AND DATE '${WEATHER_WINDOW.to}' ORDER BY 1, 2`,
      );
      assert.equal(recomputed.length, W.length * REGIONS.length);
      const show = (rows: typeof rolling): string[] => rows.map((r) => `${r.region_id} ${r.day} 7d=${r.n7} days avg ${round(r.t7)}, 30d=${r.n30} days avg ${round(r.t30)}`);
      assert.deepEqual(show(rolling), show(recomputed), 'weather_rolling of W5 and W6 counts the repaired W4 in its windows');
    });
  });

  it("after the market repair, market_daily's market_interest of the days after M2 counts M2", async () => {
    await withSession(config, async (s) => {
      // market_daily M1..M4 against its definition over what curated.market_events holds now.
      const daily = await s.rows<{ region: string; day: string; volume: number; interest: number | null }>(
        `SELECT region, CAST("day" AS VARCHAR) AS day, volume, market_interest AS interest FROM lake.operational.market_daily
         WHERE "day" BETWEEN DATE '${M1}' AND DATE '${M4}' ORDER BY 1, 2`,
      );
      const expectedDaily = await s.rows<{ region: string; day: string; volume: number; interest: number | null }>(
        `WITH d AS (SELECT region, "day", sum(volume) AS volume FROM lake.curated.market_events WHERE "day" BETWEEN DATE '${addDays(M1, -30)}' AND DATE '${M4}' GROUP BY region, "day")
         SELECT region, CAST("day" AS VARCHAR) AS day, volume,
           volume / avg(volume) OVER (PARTITION BY region ORDER BY "day" RANGE BETWEEN INTERVAL 30 DAYS PRECEDING AND INTERVAL 1 DAY PRECEDING) AS interest
         FROM d WHERE "day" >= DATE '${M1}' ORDER BY 1, 2`,
      );
      const showDaily = (rows: typeof daily): string[] => rows.map((r) => `${r.region} ${r.day} volume ${r.volume} interest ${round(r.interest)}`);
      assert.ok(expectedDaily.some((r) => r.day === M4 && r.interest !== null), 'M4 has regions with history');
      assert.deepEqual(showDaily(daily), showDaily(expectedDaily), "market_daily's market_interest of M3 and M4 counts the repaired M2");
    });
  });
  // ------------------------------------------------------------------ a consumer replay

  it('a consumer replay that rewrites an hour file of M1 after its compaction makes M1 stale; --stale compacts it again', { timeout: 300_000 }, async () => {
    const before = await build({ datasets: ['raw.source_d', ...MARKET_DATASETS], ...MARKET_WINDOW });
    assert.equal(states(find(before, 'curated.market_events'))[M1], 'published');
    const rawBefore = find(before, 'raw.source_d').partitions.find((p) => p.day === M1);
    assert.equal(rawBefore?.hours, MARKET_HOURS.length, 'raw.source_d M1: the hours the consumer wrote');

    // The replay cut the file of partition 1 in M1's last hour later: one more record in it, under the same key.
    const hour = MARKET_HOURS[MARKET_HOURS.length - 1] as number;
    const key = [...marketFiles.keys()].find((k) => k.startsWith(rawDayPrefix('source_d', M1, hour)) && k.includes(`${TOPIC}+1+`));
    assert.ok(key, 'M1 has a file of partition 1 in its last hour');
    const lines = marketFiles.get(key) as MarketRawLine[];
    const last = lines[lines.length - 1] as MarketRawLine;
    seq++;
    const event = marketEventValue(MODEL, seq, Date.parse(`${M1}T${String(hour).padStart(2, '0')}:58:00Z`)) as MarketEvent;
    const replayed = [...lines, { partition: 1, offset: String(Number(last.offset) + 1), timestamp: String(Date.parse(event.ts) + 40), key: event.region, event }];
    const bytes = replayed.map((l) => JSON.stringify(l)).join('\n') + '\n';
    await overwriteRawFile(store, key, bytes, { origin: `kafka://${TOPIC}/1`, fetchedAt: new Date().toISOString() });

    // The catalog reads the rewritten file's sidecar again (its size changed), not the one it cached.
    const catalog = await build({ datasets: ['raw.source_d', ...MARKET_DATASETS], ...MARKET_WINDOW });
    const rawAfter = find(catalog, 'raw.source_d').partitions.find((p) => p.day === M1);
    assert.equal(rawAfter?.bytes, (rawBefore?.bytes ?? 0) + Buffer.byteLength(JSON.stringify(replayed[replayed.length - 1])) + 1);
    const events = find(catalog, 'curated.market_events');
    assert.deepEqual(states(events), { ...allPublished(M), [M1]: 'stale' });
    assert.match(events.partitions.find((p) => p.day === M1)?.reason ?? '', new RegExp(`^raw\\.source_d day ${M1} was published again at `));

    const items = await plan('curated.market_events', MARKET_WINDOW, ['stale']);
    assert.deepEqual(items.map((i) => `${i.action} ${i.day} ${i.downstreamTo}`), [`market ${M1} ${M4}`]);
    const state = await repair('curated.market_events', MARKET_WINDOW, ['stale'], items);
    assert.deepEqual(state.outcomes.map((o) => `${o.workflowId} ${o.outcome}`), [`compact:market:day=${M1} repaired`]);
    await settled([repairWorkflowId('curated.market_events', MARKET_WINDOW.from, MARKET_WINDOW.to, ['stale']), `compact:market:day=${M1}`]);

    const repaired = await build({ datasets: MARKET_DATASETS, ...MARKET_WINDOW });
    assert.deepEqual(states(find(repaired, 'curated.market_events')), allPublished(M));
    const perDay = MARKET_HOURS.length * EVENTS_PER_HOUR;
    const m1 = await marketDay(M1);
    assert.deepEqual({ n: m1.n, ids: m1.ids }, { n: String(perDay + 1), ids: String(perDay + 1) });
    assert.ok(m1.kept.some((k) => k.event_id === event.event_id && k.partition === '1'), 'the replayed record is compacted');
    assert.equal((await dailyEvents(M1))?.events, String(perDay + 1));
  });
});
