/**
 * Source D's long-running consumer process: the market topic into the raw zone
 * (lib/market/raw-writer.ts) until SIGINT/SIGTERM, which close and commit the open
 * files before the process leaves the group. It is its own process, not a Temporal
 * worker: a consumer group member lives as long as its partitions do.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Admin, Kafka } from 'kafkajs';
import type { Config } from '../lib/config.ts';
import { createKafka } from '../lib/clients/kafka.ts';
import { createS3Client } from '../lib/clients/s3.ts';
import { createLakeStore } from '../lib/lake/store.ts';
import { createMarketRawWriter, type MarketFlushedFile } from '../lib/market/raw-writer.ts';
import { ensureMarketTopic } from '../lib/market/topic.ts';
import type { ObjectStore } from '../lib/storage/object-store.ts';

export interface MarketConsumerOptions {
  /** Clients to use instead of the ones built from config (tests, fault injection). */
  readonly kafka?: Kafka;
  readonly store?: ObjectStore;
  /** Where the one-line-per-file and lag lines go (default: stdout). */
  readonly log?: (line: string) => void;
  /** How often a lag line is logged, ms (default 30 000). */
  readonly lagEveryMs?: number;
  /** Stops the consumer like SIGTERM does (default: SIGINT and SIGTERM of this process). */
  readonly signal?: AbortSignal;
  /** kafkajs session timeout, ms: how long a killed consumer keeps its partitions from the next one. */
  readonly sessionTimeout?: number;
  /** Called once a file is durable, before its offsets are committed. */
  readonly onFlush?: (file: MarketFlushedFile) => void;
}

/** Runs until stopped; resolves after a clean stop, rejects if the consumer died for good. */
export async function runMarketConsumer(config: Config, opts: MarketConsumerOptions = {}): Promise<void> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const kafka = opts.kafka ?? createKafka(config, 'tempolake-market-consumer');
  let s3: S3Client | undefined;
  const store = opts.store ?? createLakeStore(config, (s3 = createS3Client(config)));
  const topic = config.marketTopic;
  const groupId = config.marketConsumerGroup;

  const ensured = await ensureMarketTopic(kafka, config);
  if (ensured.created) log(`market: created topic ${topic} with ${ensured.partitions} partitions`);
  else if (ensured.partitions !== config.marketTopicPartitions) {
    log(`market: topic ${topic} has ${ensured.partitions} partitions (MARKET_TOPIC_PARTITIONS asks for ${config.marketTopicPartitions}); using it as it is`);
  }

  const writer = createMarketRawWriter({
    kafka,
    store,
    topic,
    groupId,
    maxEvents: config.marketFileMaxEvents,
    maxMs: config.marketFileMaxMs,
    ...(opts.sessionTimeout !== undefined ? { sessionTimeout: opts.sessionTimeout } : {}),
    onFlush: (f) => {
      const where = [f.key, f.rejectedKey].filter(Boolean).join(' + ');
      const stale = f.staleDeleted.length > 0 ? `, replaced ${f.staleDeleted.length} leftover file(s)` : '';
      log(`market: p${f.partition} ${f.firstOffset}-${f.lastOffset} → ${where} (${f.records} records, ${f.rejected} rejected, ${f.reason}${stale})`);
      opts.onFlush?.(f);
    },
    onError: (err, during) => log(`market: error ${during}: ${err instanceof Error ? err.message : String(err)}`),
  });

  const admin = kafka.admin();
  let lagTimer: NodeJS.Timeout | undefined;
  let stopWaiting = (): void => undefined;
  const stopRequested = new Promise<string>((resolve) => {
    if (opts.signal) {
      const onAbort = (): void => resolve('stop requested');
      if (opts.signal.aborted) onAbort();
      opts.signal.addEventListener('abort', onAbort, { once: true });
      stopWaiting = () => opts.signal?.removeEventListener('abort', onAbort);
      return;
    }
    let requested = false;
    const onSignal = (sig: NodeJS.Signals): void => {
      // A second Ctrl-C gives up on the flush; nothing is lost, the next run replays from the committed offsets.
      if (requested) process.exit(130);
      requested = true;
      resolve(sig);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    stopWaiting = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
  });

  try {
    await writer.start();
    log(`market: consuming ${topic} as group ${groupId} into ${store.rootUri} (files of ≤ ${config.marketFileMaxEvents} events or ${config.marketFileMaxMs} ms)`);
    await admin.connect();
    lagTimer = setInterval(() => {
      logLag(admin, topic, groupId, log).catch((err) => log(`market: lag unknown: ${(err as Error).message}`));
    }, opts.lagEveryMs ?? 30_000);
    const reason = await Promise.race([stopRequested, writer.done.then(() => 'stopped')]);
    clearInterval(lagTimer);
    log(`market: ${reason}: closing open files and committing`);
    await writer.stop();
    const s = writer.stats();
    log(`market: stopped after ${s.files} files, ${s.records} records, ${s.rejected} rejected`);
  } finally {
    stopWaiting();
    if (lagTimer) clearInterval(lagTimer);
    await admin.disconnect().catch(() => undefined);
    // writer.done rejected (kafkajs gave up): still leave the group before the caller sees the error.
    await writer.stop().catch(() => undefined);
    s3?.destroy();
  }
  await writer.done;
}

/** One line: total lag and per-partition committed/end offsets. */
async function logLag(admin: Admin, topic: string, groupId: string, log: (line: string) => void): Promise<void> {
  const [ends, groups] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
  const committed = new Map((groups.find((g) => g.topic === topic)?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
  let total = 0n;
  const parts = ends
    .sort((a, b) => a.partition - b.partition)
    .map((p) => {
      const end = BigInt(p.high);
      const done = committed.get(p.partition) ?? -1n;
      const lag = done < 0n ? end - BigInt(p.low) : end - done;
      total += lag;
      return `p${p.partition} ${done < 0n ? '-' : done}/${end}`;
    });
  log(`market: lag ${total} (${parts.join(', ')})`);
}
