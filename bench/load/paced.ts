/**
 * The measuring loop both load generators of bench/api.ts share, so the API and its pg
 * baseline are driven exactly alike: `connections` workers, each sending its next request
 * when the previous one is answered — paced to `rate` requests/s over all of them when
 * given, their start times spread over one interval — for `seconds`.
 */
export interface Figures {
  readonly p50: number;
  readonly p99: number;
  readonly rps: number;
  readonly errors: number;
}

/** `send` resolves true for an answer that counts (its latency is kept), false for one that does not. */
export async function runPaced(opts: { connections: number; seconds: number; rate: number; send: (i: number) => Promise<boolean> }): Promise<Figures & { rejected: number }> {
  const { connections: n, seconds, rate } = opts;
  const interval = rate > 0 ? (1000 * n) / rate : 0;
  const latencies: number[] = [];
  let errors = 0;
  let rejected = 0;
  let next = 0;
  const until = Date.now() + seconds * 1000;
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
          if (await opts.send(next++)) latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
          else rejected++;
        } catch {
          errors++;
        }
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), rps: latencies.length / seconds, errors, rejected };
}
