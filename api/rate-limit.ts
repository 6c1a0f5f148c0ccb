/**
 * Per-key rate limit (runs after authentication, keyed by customer id, not by IP: one
 * customer behind many addresses gets one budget, many customers behind one NAT get theirs).
 * The store is in process memory: with several API instances each one counts on its own.
 */
import type { RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import { customerOf } from './auth.ts';
import { HttpProblem } from './problem.ts';

export function perKeyRateLimit(limitPerMinute: number): RequestHandler {
  return rateLimit({
    windowMs: 60_000,
    limit: limitPerMinute,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    identifier: 'per-key',
    keyGenerator: (_req, res) => customerOf(res).id,
    // The library sets Retry-After before calling this; the error middleware keeps it.
    handler: (_req, _res, next) => next(new HttpProblem(429, `more than ${limitPerMinute} requests per minute with this API key`)),
    // Keyed by customer, so the IP-related checks do not apply.
    validate: { xForwardedForHeader: false, trustProxy: false, keyGeneratorIpFallback: false },
  });
}
