/** `lake consume market`: source D's Kafka topic into the raw zone until Ctrl-C / SIGTERM. */
import type { Config } from '../lib/config.ts';
import { parseArgs, UsageError } from '../lib/cli/args.ts';
import { runMarketConsumer } from '../workers/market-consumer.ts';

const USAGE = 'usage: lake consume market   (topic, group and file limits from MARKET_* settings; see `lake config`)';

export async function consumeCommand(config: Config, argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.positional[0] !== 'market' || args.positional.length > 1 || args.flags.size > 0) throw new UsageError(USAGE);
  await runMarketConsumer(config);
  return 0;
}
