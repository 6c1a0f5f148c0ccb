/**
 * HTTP load generator of bench/api.ts, run as a process of its own so it does not share the
 * API's event loop. `connections` keep-alive connections, each sending its next request when
 * the previous answer has been read (as bench/load/pg.ts does with queries), paced the same
 * way when a rate is given. Prints one JSON line: { p50, p99, rps, errors, non2xx }.
 *
 *   tsx bench/load/http.ts <baseUrl> <apiKey> <accept> <connections> <seconds> <rate> <path>…
 *
 * rate: requests per second over all connections (0: each connection as fast as it can).
 * Not autocannon: its rate mode fires every connection at once each tick, so a paced run
 * would measure bursts against the baseline's evenly spread queries.
 */
import http from 'node:http';

const [base, key, accept, connections, seconds, rate, ...paths] = process.argv.slice(2);
if (!base || !key || !accept || paths.length === 0) throw new Error('usage: http.ts <baseUrl> <apiKey> <accept> <connections> <seconds> <rate> <path>…');
const n = Number(connections);
const interval = Number(rate) > 0 ? (1000 * n) / Number(rate) : 0;
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

const latencies: number[] = [];
let errors = 0;
let non2xx = 0;
let next = 0;
// Open every connection first, as the baseline warms its pool.
await Promise.all(Array.from({ length: n }, () => get(paths[0] as string)));
const until = Date.now() + Number(seconds) * 1000;
await Promise.all(
  Array.from({ length: n }, async (_, w) => {
    let due = Date.now() + (interval * w) / n;
    while (Date.now() < until) {
      if (interval > 0) {
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        due += interval;
      }
      const t0 = process.hrtime.bigint();
      try {
        const status = await get(paths[next++ % paths.length] as string);
        if (status >= 300) non2xx++;
        else latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      } catch {
        errors++;
      }
    }
  }),
);
agent.destroy();
latencies.sort((a, b) => a - b);
const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
console.log(JSON.stringify({ p50: at(0.5), p99: at(0.99), rps: latencies.length / Number(seconds), errors, non2xx }));
