/**
 * The weather simulator as a process, for `lake infra up` and developers:
 *
 *   node --import tsx simulators/weather/main.ts [--port 8701]
 *
 * Prints one line when listening and stops on SIGTERM or Ctrl-C. Faults and the clock are
 * set over HTTP: `POST /__sim/faults` {"tooManyRequests":3,"retryAfterSeconds":1},
 * `POST /__sim/now` {"now":"2026-11-25T14:05:00Z"} (null: the real clock), `GET /__sim/stats`.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../lib/config.ts';
import { startWeatherSimulator } from './server.ts';

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { port: { type: 'string' } } });
  const port = values.port === undefined ? loadConfig().weatherSimPort : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`usage: main.ts [--port N] (got --port ${values.port})`);
    return 2;
  }
  const sim = await startWeatherSimulator({ port });
  console.log(`weather simulator listening on ${sim.url} (/v1/forecast, /v1/archive; control under /__sim/)`);
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
