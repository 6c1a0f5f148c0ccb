/**
 * Source D (market) activities: the stream's poll-and-produce step, the hourly compaction
 * of the consumer's raw files into curated.market_events, and market_daily.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Kafka, Producer } from 'kafkajs';
import type { Config } from '../lib/config.ts';
import type { Lineage } from '../lib/lake/publish.ts';
import { openLakeSession } from '../lib/lake/session.ts';
import { compactMarketHour, refreshMarketDaily, type CompactedHour } from '../lib/market/compact.ts';
import { pollMarketToKafka, type PollProgress } from '../lib/market/poller.ts';
import { ensureMarketTopic } from '../lib/market/topic.ts';
import type { ObjectStore } from '../lib/storage/object-store.ts';

export interface MarketDeps {
  readonly config: Config;
  readonly store: ObjectStore;
  readonly kafka: Kafka;
  /** The worker's idempotent producer (owned, and closed, by the worker's deps). */
  readonly producer: () => Promise<Producer>;
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
    async compactMarketHour(input: { day: string; hour: number; run: MarketRun }): Promise<CompactedHour> {
      const session = await openLakeSession(deps.config);
      try {
        return await compactMarketHour(session, deps.store, { day: input.day, hour: input.hour, lineage: { ...input.run, inputs: [] } });
      } catch (err) {
        if (/Invalid Input Error|Malformed JSON/.test(String((err as Error).message))) throw ApplicationFailure.nonRetryable((err as Error).message, 'MalformedFile');
        throw err;
      } finally {
        session.close();
      }
    },

    async refreshMarketDaily(input: { from: string; to: string; run: MarketRun }): Promise<{ rows: number }> {
      const session = await openLakeSession(deps.config);
      try {
        const lineage: Lineage = { ...input.run, inputs: [] };
        const r = await refreshMarketDaily(session, { from: input.from, to: input.to, lineage });
        return { rows: r.rows };
      } finally {
        session.close();
      }
    },
  };
}

export type MarketActivities = ReturnType<typeof createMarketActivities>;
