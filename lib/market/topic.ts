/**
 * Source D's Kafka topic. The project creates it with a known partition count rather
 * than relying on the broker's auto-create: the partition count fixes how many raw
 * files run side by side each hour, and an auto-created topic gets whatever
 * `num.partitions` the broker happens to have.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin, Kafka } from 'kafkajs';
import type { Config } from '../config.ts';

export interface MarketTopic {
  readonly topic: string;
  /** The topic's partition count as the broker reports it (not necessarily what config asks for). */
  readonly partitions: number;
  /** Whether this call created it. */
  readonly created: boolean;
}

/**
 * Creates `config.marketTopic` with `config.marketTopicPartitions` partitions unless it
 * exists. Idempotent, and safe to race: a creator that loses gets `created: false`.
 * An existing topic keeps its partition count; the caller decides whether a
 * mismatch matters.
 */
export async function ensureMarketTopic(kafka: Kafka, config: Pick<Config, 'marketTopic' | 'marketTopicPartitions'>): Promise<MarketTopic> {
  const topic = config.marketTopic;
  const admin = kafka.admin();
  await admin.connect();
  try {
    // createTopics answers false on TOPIC_ALREADY_EXISTS, which also covers a concurrent creator.
    const created = await admin.createTopics({
      topics: [{ topic, numPartitions: config.marketTopicPartitions }],
      waitForLeaders: true,
    });
    const partitions = await partitionCount(admin, topic);
    return { topic, partitions, created };
  } finally {
    await admin.disconnect();
  }
}

/**
 * The topic's partition count. Right after a creation the broker may still answer
 * UNKNOWN_TOPIC_OR_PARTITION for a moment (seen on a freshly started broker): asked again.
 */
async function partitionCount(admin: Admin, topic: string): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
      return metadata.topics.find((t) => t.name === topic)?.partitions.length ?? 0;
    } catch (err) {
      const unknown = (err as { type?: string }).type === 'UNKNOWN_TOPIC_OR_PARTITION' || /does not host this topic-partition/.test(String((err as Error).message));
      if (!unknown || attempt >= 40) throw err;
      await sleep(250);
    }
  }
}
