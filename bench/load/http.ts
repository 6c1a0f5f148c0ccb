/**
 * Load generator of bench/api.ts, run as a process of its own so it does not share the
 * API's event loop: autocannon against `paths` (round robin) with a customer key.
 * Prints one JSON line: { p50, p99, rps, errors, non2xx, bytes }.
 *
 *   tsx bench/load/http.ts <baseUrl> <apiKey> <accept> <connections> <seconds> <path>…
 */
import autocannon from 'autocannon';

const [base, key, accept, connections, seconds, ...paths] = process.argv.slice(2);
if (!base || !key || !accept || paths.length === 0) throw new Error('usage: http.ts <baseUrl> <apiKey> <accept> <connections> <seconds> <path>…');
let i = 0;
// autocannon's histogram keeps whole milliseconds; sub-millisecond answers need the raw times.
const times: number[] = [];
const result = await new Promise<autocannon.Result>((resolve, reject) => {
  const run = autocannon(
    {
      url: base,
      connections: Number(connections),
      duration: Number(seconds),
      headers: { authorization: `Bearer ${key}`, accept },
      requests: [{ setupRequest: (req) => ({ ...req, path: paths[i++ % paths.length] as string }) }],
    },
    (err, r) => (err ? reject(err) : resolve(r)),
  );
  run.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status < 300) times.push(ms);
  });
});
times.sort((a, b) => a - b);
const at = (q: number): number => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? NaN;
console.log(
  JSON.stringify({
    p50: at(0.5),
    p99: at(0.99),
    rps: times.length / Number(seconds),
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    bytes: result.throughput.average,
  }),
);
