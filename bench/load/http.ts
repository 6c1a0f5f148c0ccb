/**
 * HTTP load generator of bench/api.ts, run as a process of its own so it does not share the
 * API's event loop. `connections` keep-alive connections, each sending its next request when
 * the previous answer has been read (as bench/load/pg.ts does with queries), paced the same
 * way when a rate is given (bench/load/paced.ts). Prints one JSON line: { p50, p99, rps, errors, non2xx }.
 *
 *   tsx bench/load/http.ts <baseUrl> <apiKey> <accept> <connections> <seconds> <rate> <path>…
 *
 * rate: requests per second over all connections (0: each connection as fast as it can).
 * Not autocannon: its rate mode fires every connection at once each tick, so a paced run
 * would measure bursts against the baseline's evenly spread queries.
 */
import http from 'node:http';
import { runPaced } from './paced.ts';

const [base, key, accept, connections, seconds, rate, ...paths] = process.argv.slice(2);
if (!base || !key || !accept || paths.length === 0) throw new Error('usage: http.ts <baseUrl> <apiKey> <accept> <connections> <seconds> <rate> <path>…');
const n = Number(connections);
const url = new URL(base);
const agent = new http.Agent({ keepAlive: true, maxSockets: n });
const headers = { authorization: `Bearer ${key}`, accept };

function get(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: url.hostname, port: url.port, path, agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

// Open every connection first, as the baseline warms its pool.
await Promise.all(Array.from({ length: n }, () => get(paths[0] as string)));
const { rejected, ...figures } = await runPaced({
  connections: n,
  seconds: Number(seconds),
  rate: Number(rate),
  send: async (i) => (await get(paths[i % paths.length] as string)) < 300,
});
agent.destroy();
console.log(JSON.stringify({ ...figures, non2xx: rejected }));
