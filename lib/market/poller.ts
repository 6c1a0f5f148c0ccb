/**
 * Source D's producer: polls the market REST endpoint from a cursor and produces each new
 * event to Kafka (key = region, idempotent producer), dropping the events the endpoint
 * repeats (a seq at or below the cursor, or twice in one page). The cursor only moves
 * past events Kafka has acknowledged, and `onProgress` hears every move: the activity
 * heartbeats it, so a retried attempt resumes there instead of at its start.
 *
 * Records keep Kafka's own (produce-time) timestamp: the broker refuses timestamps far
 * from its clock (Kafka 4: an hour ahead by default), and the consumer files a valid event
 * under the hour of its own `ts` anyway.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Producer } from 'kafkajs';
import type { MarketPage } from './events.ts';

export interface PollOptions {
  readonly url: URL;
  readonly producer: Producer;
  readonly topic: string;
  /** Highest seq already produced. */
  readonly cursor: number;
  /** Stop after this long (ms) … */
  readonly maxMs: number;
  /** … or this many produced events. */
  readonly maxEvents?: number;
  readonly pageSize?: number;
  /** Wait when the endpoint has nothing new. */
  readonly idleMs?: number;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: PollProgress) => void;
}

export interface PollProgress {
  readonly cursor: number;
  readonly produced: number;
  readonly duplicates: number;
  readonly pages: number;
  /** Endpoint errors met (and retried) in this call. */
  readonly errors: number;
}

export class MarketEndpointError extends Error {
  override name = 'MarketEndpointError';
}

interface Outgoing {
  readonly seq: number | undefined;
  readonly key: string | null;
  readonly value: string;
}

/** An element as it goes to Kafka: its JSON text (a string element is sent as its text). */
function outgoing(element: unknown): Outgoing {
  const obj = typeof element === 'object' && element !== null && !Array.isArray(element) ? (element as Record<string, unknown>) : undefined;
  // A cut-short (not JSON) event still shows its seq in its text: repeats of it are dropped too.
  const seqInText = typeof element === 'string' ? /"seq":(\d{1,15})[,}]/.exec(element)?.[1] : undefined;
  const seq = typeof obj?.['seq'] === 'number' && Number.isSafeInteger(obj['seq']) ? (obj['seq'] as number) : seqInText !== undefined ? Number(seqInText) : undefined;
  const key = typeof obj?.['region'] === 'string' ? (obj['region'] as string) : null;
  return { seq, key, value: typeof element === 'string' ? element : JSON.stringify(element) };
}

async function fetchPage(url: URL, after: number, limit: number, timeoutMs: number, signal?: AbortSignal): Promise<MarketPage> {
  const request = new URL(url);
  request.searchParams.set('after', String(after));
  request.searchParams.set('limit', String(limit));
  const timeout = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await fetch(request, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new MarketEndpointError(`market endpoint ${url.origin}${url.pathname}: ${(err as Error).message}`);
  }
  const text = await res.text();
  if (res.status === 429 || res.status >= 500) {
    const retryAfter = Number(res.headers.get('retry-after'));
    throw Object.assign(new MarketEndpointError(`market endpoint answered ${res.status}`), { retryAfterMs: Number.isFinite(retryAfter) ? retryAfter * 1000 : undefined });
  }
  if (!res.ok) throw new MarketEndpointError(`market endpoint answered ${res.status}: ${text.slice(0, 200)}`);
  const page = JSON.parse(text) as Partial<MarketPage>;
  if (!Array.isArray(page.events) || typeof page.next !== 'number') throw new MarketEndpointError('market endpoint answer lacks events[] or next');
  return page as MarketPage;
}

export async function pollMarketToKafka(opts: PollOptions): Promise<PollProgress> {
  const started = Date.now();
  const pageSize = opts.pageSize ?? 500;
  let cursor = opts.cursor;
  let produced = 0;
  let duplicates = 0;
  let pages = 0;
  let errors = 0;
  let backoffMs = 500;
  const progress = (): PollProgress => ({ cursor, produced, duplicates, pages, errors });
  while (Date.now() - started < opts.maxMs && produced < (opts.maxEvents ?? Number.POSITIVE_INFINITY) && !opts.signal?.aborted) {
    let page: MarketPage;
    try {
      page = await fetchPage(opts.url, cursor, pageSize, opts.timeoutMs ?? 10_000, opts.signal);
      backoffMs = 500;
    } catch (err) {
      if (!(err instanceof MarketEndpointError)) throw err;
      // Endpoint trouble: back off here (the cursor is safe), up to the call's time budget.
      errors++;
      opts.onProgress?.(progress());
      const wait = (err as { retryAfterMs?: number }).retryAfterMs ?? backoffMs;
      backoffMs = Math.min(30_000, backoffMs * 2);
      if (Date.now() - started + wait > opts.maxMs) throw err;
      await sleep(wait, undefined, { signal: opts.signal }).catch(() => undefined);
      continue;
    }
    pages++;
    const seen = new Set<number>();
    const fresh: Outgoing[] = [];
    for (const element of page.events) {
      const out = outgoing(element);
      if (out.seq !== undefined && (out.seq <= cursor || seen.has(out.seq))) {
        duplicates++;
        continue;
      }
      if (out.seq !== undefined) seen.add(out.seq);
      fresh.push(out);
    }
    if (fresh.length > 0) {
      await opts.producer.send({ topic: opts.topic, acks: -1, messages: fresh.map(({ key, value }) => ({ key, value })) });
      produced += fresh.length;
    }
    // Acknowledged by Kafka: only now may the cursor move past these events.
    cursor = Math.max(cursor, page.next);
    opts.onProgress?.(progress());
    if (page.events.length === 0) await sleep(opts.idleMs ?? 1000, undefined, { signal: opts.signal }).catch(() => undefined);
  }
  return progress();
}
