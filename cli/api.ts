/** `lake api`: serves the REST API (API_HOST:API_PORT) until Ctrl-C / SIGTERM. */
import type { Config } from '../lib/config.ts';
import { parseArgs, UsageError } from '../lib/cli/args.ts';
import { startApi } from '../api/server.ts';

const USAGE = 'usage: lake api   (address, rate limit, body limit and page size from API_* settings; see `lake config`)';

export async function apiCommand(config: Config, argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.positional.length > 0 || args.flags.size > 0) throw new UsageError(USAGE);
  let server;
  try {
    server = await startApi(config);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES') {
      console.error(`lake: cannot listen on ${config.apiHost}:${config.apiPort} (${e.code}); set API_PORT or API_HOST`);
      return 1;
    }
    throw err;
  }
  console.log(`API listening on ${server.url}`);
  console.log(`docs     ${server.docsUrl}`);
  console.log(`OpenAPI  ${server.url}/openapi.json`);
  console.log('Create an API key with `lake customers create <name>`. Ctrl-C to stop.');
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  console.log(`${signal}: stopping (in-flight responses get a few seconds to finish)`);
  await server.close();
  return 0;
}
