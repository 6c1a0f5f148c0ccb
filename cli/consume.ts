/** `lake consume market`: source D's Kafka topic into the raw zone until Ctrl-C / SIGTERM. */
import type { Config } from '../lib/config.ts';
import { parseArgs, UsageError } from '../lib/cli/args.ts';
import { runMarketConsumer } from '../workers/market-consumer.ts';

const USAGE = 'usage: lake consume market   (topic, group and file limits from MARKET_* settings; see `lake config`)';

// Long enough for the last log lines to reach a pipe.
const EXIT_GRACE_MS = 2_000;

export async function consumeCommand(config: Config, argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.positional[0] !== 'market' || args.positional.length > 1 || args.flags.size > 0) throw new UsageError(USAGE);
  await runMarketConsumer(config);
  // After a broker restart kafkajs 2.2.4 keeps one idle socket open past disconnect(): the
  // group coordinator it found before the restart is no longer in its broker pool, so
  // disconnect() misses the connection that leaving the group opens on it, and the broker
  // closes it only after connections.max.idle.ms (10 min). Files are written and offsets
  // committed by now, so that socket must not hold the process.
  setTimeout(() => process.exit(process.exitCode ?? 0), EXIT_GRACE_MS).unref();
  return 0;
}
