/**
 * Source D (market) activities: the stream's poll-and-produce step, the hourly compaction
 * of the consumer's raw files into curated.market_events, and market_daily.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Kafka, Producer } from 'kafkajs';
import type { Config } from '../lib/config.ts';
import type { Lineage } from '../lib/lake/publish.ts';
import { openLakeSession } from '../lib/lake/session.ts';
import { compactMarketHour, marketHourKeys, refreshMarketDaily, type CompactedHour } from '../lib/market/compact.ts';
import { chooseEngine, type Engine } from '../lib/engine/engines.ts';
import { upstreamSnapshots } from '../lib/catalog/upstream.ts';
import { runOnSpark, type SparkActivityDeps } from './spark.ts';
import { pollMarketToKafka, type PollProgress } from '../lib/market/poller.ts';
import { ensureMarketTopic } from '../lib/market/topic.ts';
import type { ObjectStore } from '../lib/storage/object-store.ts';

export interface MarketDeps {
  readonly config: Config;
  readonly store: ObjectStore;
  readonly kafka: Kafka;
  /** The worker's idempotent producer (owned, and closed, by the worker's deps). */
  readonly producer: () => Promise<Producer>;
  /** For the Spark engines of compact_market_hour and market_daily. */
  readonly spark: SparkActivityDeps;
}

export interface MarketRun {
  readonly workflowId: string;
  readonly runId: string;
}

export function createMarketActivities(deps: MarketDeps) {
  let topicReady: Promise<unknown> | undefined;
  const connected = async (): Promise<Producer> => {
    topicReady ??= ensureMarketTopic(deps.kafka, deps.config).catch((err: unknown) => {
      topicReady = undefined;
      throw err;
    });
    await topicReady;
    return deps.producer();
  };

  return {
    /**
     * Polls the endpoint from `cursor` for up to `maxMs` and produces what is new. A retried
     * attempt starts from the cursor its predecessor last heartbeated, not from `cursor`.
     */
    async pollMarketToKafka(input: { cursor: number; maxMs: number; maxEvents?: number; pageSize?: number }): Promise<PollProgress> {
      const ctx = Context.current();
      const resumed = (ctx.info.heartbeatDetails as PollProgress | undefined)?.cursor;
      const cursor = Math.max(input.cursor, resumed ?? 0);
      return pollMarketToKafka({
        url: deps.config.marketApiUrl,
        producer: await connected(),
        topic: deps.config.marketTopic,
        cursor,
        maxMs: input.maxMs,
        ...(input.maxEvents !== undefined ? { maxEvents: input.maxEvents } : {}),
        pageSize: input.pageSize ?? 1000,
        signal: ctx.cancellationSignal,
        onProgress: (p) => ctx.heartbeat(p),
      });
    },

    /** One raw hour → curated.market_events (one commit), regions first seen → operational.regions. */
    async compactMarketHour(input: { day: string; hour: number; run: MarketRun }): Promise<CompactedHour & { engine: Engine }> {
      const { engine } = chooseEngine(deps.config, 'compact_market_hour');
      if (engine !== 'duckdb') {
        const keys = await marketHourKeys(deps.store, input.day, input.hour);
        const hh = String(input.hour).padStart(2, '0');
        if (keys.length === 0) return { day: input.day, hour: input.hour, files: 0, rawEvents: 0, regionsAdded: [], rows: 0, rejected: 0, retries: 0, engine };
        const r = await runOnSpark(deps.spark, {
          engine,
          transform: 'compact_market_hour',
          input: { day: input.day, hour: input.hour, files: keys.map((key) => ({ key, location: deps.store.locationOf(key) })), lineage: { ...input.run, inputs: [] } },
          ...input.run,
          step: `compact_market_hour:${input.day}T${hh}`,
          outcome: { kind: 'lineage', table: 'curated.market_events', scope: `day=${input.day} hour=${hh}` },
        });
        const job = r.jobResult as { rawEvents?: number; regionsAdded?: string[] } | undefined;
        return {
          day: input.day,
          hour: input.hour,
          files: keys.length,
          rows: r.rows,
          rejected: r.rejected,
          retries: r.retries,
          ...(job?.rawEvents !== undefined ? { rawEvents: job.rawEvents } : {}),
          ...(job?.regionsAdded ? { regionsAdded: job.regionsAdded } : {}),
          engine,
        };
      }
      const session = await openLakeSession(deps.config);
      try {
        return { ...(await compactMarketHour(session, deps.store, { day: input.day, hour: input.hour, lineage: { ...input.run, inputs: [] } })), engine };
      } catch (err) {
        if (/Invalid Input Error|Malformed JSON/.test(String((err as Error).message))) throw ApplicationFailure.nonRetryable((err as Error).message, 'MalformedFile');
        throw err;
      } finally {
        session.close();
      }
    },

    async refreshMarketDaily(input: { from: string; to: string; run: MarketRun }): Promise<{ rows: number; engine: Engine }> {
      const { engine } = chooseEngine(deps.config, 'market_daily');
      const lineage: Lineage = { ...input.run, inputs: await upstreamSnapshots(deps.config, ['curated.market_events', 'operational.market_daily']) };
      if (engine !== 'duckdb') {
        const r = await runOnSpark(deps.spark, {
          engine,
          transform: 'market_daily',
          input: { from: input.from, to: input.to, lineage },
          ...input.run,
          step: `market_daily:${input.from}..${input.to}`,
          outcome: { kind: 'lineage', table: 'operational.market_daily', scope: `day=${input.from}..${input.to}` },
        });
        return { rows: r.rows, engine };
      }
      const session = await openLakeSession(deps.config);
      try {
        const r = await refreshMarketDaily(session, { from: input.from, to: input.to, lineage });
        return { rows: r.rows, engine };
      } finally {
        session.close();
      }
    },
  };
}

export type MarketActivities = ReturnType<typeof createMarketActivities>;
