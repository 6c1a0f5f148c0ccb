/**
 * The market consumer as a child process of a test, configured by the usual variables
 * (LAKE_*, S3_*, KAFKA_BROKERS, MARKET_*), with faults a test can ask for:
 *   MARKET_CHILD_FAIL_COMMITS_AFTER=n   every offset commit after the n-th fails (files keep being written)
 *   MARKET_CHILD_SIGKILL_AFTER_FILES=m  SIGKILLs itself once the m-th file is durable, before its commit
 *   MARKET_CHILD_SESSION_TIMEOUT=ms     so the next consumer need not wait 30 s for the dead one's partitions
 * Together they leave what a crash can leave at its worst: several files past the
 * committed offset, which the next run cuts differently.
 */
import type { Consumer, ConsumerConfig } from 'kafkajs';
import { createKafka } from '../../lib/clients/kafka.ts';
import { loadConfig } from '../../lib/config.ts';
import { runMarketConsumer } from '../../workers/market-consumer.ts';

const num = (name: string): number | undefined => (process.env[name] ? Number(process.env[name]) : undefined);

const config = loadConfig();
const failCommitsAfter = num('MARKET_CHILD_FAIL_COMMITS_AFTER');
const killAfterFiles = num('MARKET_CHILD_SIGKILL_AFTER_FILES');
const sessionTimeout = num('MARKET_CHILD_SESSION_TIMEOUT');

const kafka = createKafka(config, 'tempolake-market-test-child');
if (failCommitsAfter !== undefined) {
  const makeConsumer = kafka.consumer.bind(kafka);
  kafka.consumer = (cfg: ConsumerConfig): Consumer => {
    const consumer = makeConsumer(cfg);
    const commit = consumer.commitOffsets.bind(consumer);
    let commits = 0;
    consumer.commitOffsets = async (offsets) => {
      if (++commits > failCommitsAfter) throw new Error('injected: offset commit lost');
      return commit(offsets);
    };
    return consumer;
  };
}

let files = 0;
await runMarketConsumer(config, {
  kafka,
  lagEveryMs: 2_000,
  ...(sessionTimeout !== undefined ? { sessionTimeout } : {}),
  onFlush: () => {
    if (killAfterFiles !== undefined && ++files >= killAfterFiles) process.kill(process.pid, 'SIGKILL');
  },
});
