/**
 * The market simulator as a process, for `lake infra up` and developers:
 *
 *   node --import tsx simulators/market/main.ts [--port 8702] [--rate 50] [--seed sim]
 *     [--total N] [--malformed-rate 0.01] [--duplicate-rate 0.02] [--start ISO]
 *
 * Prints one line when listening and stops on SIGTERM or Ctrl-C. The stream starts at seq 1
 * when the process starts (unless --start), so a restarted simulator serves the same event ids
 * again with new timestamps and a consumer's old cursor waits until the stream passes it.
 * Faults and the rate are set over HTTP: `POST /__sim/faults` {"tooManyRequests":3,"retryAfterSeconds":1},
 * `POST /__sim/rate` {"rate":500} (0 pauses), `GET /__sim/stats`, `GET /__sim/config`.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../lib/config.ts';
import { startMarketSimulator, type MarketSimulatorOptions } from './server.ts';

const USAGE = 'usage: main.ts [--port N] [--rate R] [--seed S] [--total N] [--malformed-rate P] [--duplicate-rate P] [--start ISO]';

function numberOption(raw: string | undefined, name: string, ok: (n: number) => boolean): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !ok(n)) throw new Error(`${USAGE} (got --${name} ${raw})`);
  return n;
}

function options(argv: string[]): MarketSimulatorOptions & { port: number } {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      rate: { type: 'string' },
      seed: { type: 'string' },
      total: { type: 'string' },
      'malformed-rate': { type: 'string' },
      'duplicate-rate': { type: 'string' },
      start: { type: 'string' },
    },
  });
  const share = (n: number): boolean => Number.isFinite(n) && n >= 0 && n <= 1;
  const port = numberOption(values.port, 'port', (n) => Number.isInteger(n) && n >= 0 && n <= 65535) ?? loadConfig().marketSimPort;
  const rate = numberOption(values.rate, 'rate', (n) => Number.isFinite(n) && n >= 0);
  const total = numberOption(values.total, 'total', (n) => Number.isSafeInteger(n) && n >= 0);
  const malformedRate = numberOption(values['malformed-rate'], 'malformed-rate', share);
  const duplicateRate = numberOption(values['duplicate-rate'], 'duplicate-rate', share);
  if (values.start !== undefined && Number.isNaN(Date.parse(values.start))) throw new Error(`${USAGE} (got --start ${values.start})`);
  return {
    port,
    ...(rate !== undefined ? { rate } : {}),
    ...(total !== undefined ? { total } : {}),
    ...(malformedRate !== undefined ? { malformedRate } : {}),
    ...(duplicateRate !== undefined ? { duplicateRate } : {}),
    ...(values.seed !== undefined ? { seed: values.seed } : {}),
    ...(values.start !== undefined ? { start: new Date(values.start) } : {}),
  };
}

async function main(argv: string[]): Promise<number> {
  let opts: ReturnType<typeof options>;
  try {
    opts = options(argv);
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const sim = await startMarketSimulator(opts);
  const { rate, seed } = sim.info();
  console.log(`market simulator listening on ${sim.url} (/v1/events, ${rate} events/s, seed ${seed}; control under /__sim/)`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await sim.close();
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
