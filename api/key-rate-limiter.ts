/**
 * Per-key rate limit: a fixed one-minute window per customer, counted in process memory
 * (with several API instances each counts on its own). Synchronous, so the Express
 * middleware and case 1's fast path (summary-fast-path.ts) share one count at no cost.
 * Headers follow the IETF RateLimit draft 8, as express-rate-limit's `draft-8` did.
 */
import type { RequestHandler } from 'express';
import type { ServerResponse } from 'node:http';
import { customerOf } from './auth.ts';
import { HttpProblem } from './problem.ts';

const WINDOW_MS = 60_000;
const POLICY = 'per-key';

interface Window {
  readonly resetAt: number;
  hits: number;
}

export interface Take {
  readonly allowed: boolean;
  /** Headers to send with the answer, allowed or not. */
  readonly headers: readonly (readonly [string, string])[];
  /** Seconds until the window resets (Retry-After when refused). */
  readonly resetSeconds: number;
}

export class KeyRateLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly sweep: NodeJS.Timeout;

  constructor(readonly limitPerMinute: number) {
    // Windows of keys gone quiet are dropped, so the map holds only recent callers.
    this.sweep = setInterval(() => {
      const now = Date.now();
      for (const [id, w] of this.windows) if (w.resetAt <= now) this.windows.delete(id);
    }, WINDOW_MS);
    this.sweep.unref();
  }

  /** Counts one request of `id` and says whether it is within the limit. */
  take(id: string, now = Date.now()): Take {
    let w = this.windows.get(id);
    if (!w || w.resetAt <= now) {
      w = { resetAt: now + WINDOW_MS, hits: 0 };
      this.windows.set(id, w);
    }
    w.hits++;
    const resetSeconds = Math.max(1, Math.ceil((w.resetAt - now) / 1000));
    const remaining = Math.max(0, this.limitPerMinute - w.hits);
    return {
      allowed: w.hits <= this.limitPerMinute,
      resetSeconds,
      headers: [
        ['RateLimit-Policy', `"${POLICY}"; q=${this.limitPerMinute}; w=${WINDOW_MS / 1000}`],
        ['RateLimit', `"${POLICY}"; r=${remaining}; t=${resetSeconds}`],
      ],
    };
  }

  close(): void {
    clearInterval(this.sweep);
  }
}

export function setRateLimitHeaders(res: ServerResponse, take: Take): void {
  for (const [name, value] of take.headers) res.setHeader(name, value);
}

/** The Express middleware (after authentication): 429 problem+json with Retry-After past the limit. */
export function perKeyRateLimit(limiter: KeyRateLimiter): RequestHandler {
  return (_req, res, next) => {
    const take = limiter.take(customerOf(res).id);
    setRateLimitHeaders(res, take);
    if (take.allowed) return next();
    next(new HttpProblem(429, `more than ${limiter.limitPerMinute} requests per minute with this API key`, { headers: { 'Retry-After': String(take.resetSeconds) } }));
  };
}
