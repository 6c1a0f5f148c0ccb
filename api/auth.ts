/**
 * API keys: `Authorization: Bearer <key>` or `X-API-Key: <key>`. A key's customer is cached
 * in process for a short time, keyed by the key's SHA-256 (the key itself is never kept),
 * so a request does not cost a database lookup; revoking a key takes effect within the TTL.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import type { Customer } from '../lib/warehouse/customers.ts';
import { HttpProblem } from './problem.ts';

export interface KeyCacheOptions {
  /** How long a lookup (hit or miss) is trusted. */
  readonly ttlMs: number;
  /** Bound on remembered keys, so a flood of made-up keys cannot grow the process. */
  readonly maxEntries: number;
}

export const DEFAULT_KEY_CACHE: KeyCacheOptions = { ttlMs: 30_000, maxEntries: 10_000 };

interface Entry {
  readonly expires: number;
  readonly customer: Promise<Customer | undefined>;
  /** The customer once the lookup has settled (null: no such key), for synchronous peeks. */
  settled?: Customer | null;
}

export class KeyCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly lookup: (apiKey: string) => Promise<Customer | undefined>,
    private readonly options: KeyCacheOptions = DEFAULT_KEY_CACHE,
  ) {}

  /** The key's customer; concurrent requests with one key share a single lookup. */
  get(apiKey: string): Promise<Customer | undefined> {
    const id = createHash('sha256').update(apiKey, 'utf8').digest('base64url');
    const now = Date.now();
    const hit = this.entries.get(id);
    if (hit && hit.expires > now) return hit.customer;
    if (hit) this.entries.delete(id);
    const customer = this.lookup(apiKey);
    const entry: Entry = { expires: now + this.options.ttlMs, customer };
    this.entries.set(id, entry);
    customer.then((c) => (entry.settled = c ?? null)).catch(() => undefined);
    // A failed lookup (database down) says nothing about the key: do not remember it.
    customer.catch(() => {
      if (this.entries.get(id)?.customer === customer) this.entries.delete(id);
    });
    if (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    return customer;
  }

  /** The key's customer if a lookup already found it and is still fresh; undefined otherwise (no lookup started). */
  peek(apiKey: string): Customer | undefined {
    const hit = this.entries.get(createHash('sha256').update(apiKey, 'utf8').digest('base64url'));
    return hit && hit.expires > Date.now() ? (hit.settled ?? undefined) : undefined;
  }

  clear(): void {
    this.entries.clear();
  }
}

/** The presented key, from either header; undefined when none is sent. */
export function presentedKey(authorization: string | undefined, xApiKey: string | string[] | undefined): string | undefined {
  if (authorization) {
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    return m ? m[1] : '';
  }
  if (typeof xApiKey === 'string') return xApiKey.trim();
  return undefined;
}

const CHALLENGE = 'Bearer realm="tempolake"';

export function authenticate(keys: KeyCache): RequestHandler {
  return async (req, res, next) => {
    const key = presentedKey(req.headers.authorization, req.headers['x-api-key']);
    if (key === undefined) throw new HttpProblem(401, 'an API key is required: send Authorization: Bearer <key> or X-API-Key: <key>', { headers: { 'WWW-Authenticate': CHALLENGE } });
    const customer = key ? await keys.get(key) : undefined;
    if (!customer) throw new HttpProblem(401, 'the API key is not valid', { headers: { 'WWW-Authenticate': `${CHALLENGE}, error="invalid_token"` } });
    res.locals['customer'] = customer;
    next();
  };
}

/** The authenticated caller (only on routes behind `authenticate`). */
export function customerOf(res: Response): Customer {
  const customer = res.locals['customer'] as Customer | undefined;
  if (!customer) throw new HttpProblem(401, 'an API key is required');
  return customer;
}

/**
 * The admin API's guard: `X-Admin-Key` must be API_ADMIN_KEY (compared in constant time, as
 * digests so their lengths match). Without a configured key the admin API is off (503).
 */
export function authenticateAdmin(adminKey: string): RequestHandler {
  const expected = createHash('sha256').update(adminKey, 'utf8').digest();
  return (req, res, next) => {
    if (adminKey === '') return next(new HttpProblem(503, 'the admin API is off: set API_ADMIN_KEY'));
    const given = req.headers['x-admin-key'];
    if (typeof given !== 'string' || given === '') return next(new HttpProblem(401, 'the admin key is required (X-Admin-Key)'));
    if (!timingSafeEqual(createHash('sha256').update(given, 'utf8').digest(), expected)) return next(new HttpProblem(401, 'not the admin key'));
    res.locals['admin'] = true;
    next();
  };
}
