/**
 * Source D's provider as it would answer: a cursor-paged REST endpoint of market events,
 * `GET /v1/events?after=<seq>&limit=<n>` → `{"events":[…],"next":<seq>}`, on node:http over
 * the deterministic stream of model.ts, with the faults a public API has (429 with
 * Retry-After, 500s, slow answers) switchable at run time — in-process through the returned
 * handle, or over HTTP (`/__sim/…`) when it runs as a daemon.
 *
 * The quirk a consumer must survive: now and then a page repeats one or two events it served
 * before (seq ≤ after, same bytes), mixed in among the new ones — the endpoint is at-least-once.
 * Which pages do is a hash of (seed, after), so asking again with the same cursor gives the
 * same page as long as no new events arrived.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SeededRandom } from '../files/seeded-random.ts';
import { marketEventJson, MarketTimeline, type MarketModelOptions } from './model.ts';

export interface MarketFaults {
  /** The next N API requests get 429. */
  readonly tooManyRequests?: number;
  /** Retry-After (seconds) sent with those 429s; none when unset. */
  readonly retryAfterSeconds?: number;
  /** The next N API requests (after any 429s) get 500. */
  readonly serverErrors?: number;
  /** Every API answer, errors included, is held back this long. */
  readonly delayMs?: number;
  /** Share (0..1) of API requests answered 500 at random, from a fixed seed. */
  readonly errorRate?: number;
}

export interface MarketSimulatorStats {
  /** API requests received (`/v1/events`; control requests not counted). */
  readonly requests: number;
  /** Answered 200. */
  readonly served: number;
  /** Elements of `events` served, repeats included. */
  readonly events: number;
  /** Elements that repeated an event served before. */
  readonly repeats: number;
  readonly tooManyRequests: number;
  /** Answered 5xx. */
  readonly errors: number;
  /** Answered 4xx other than 429. */
  readonly badRequests: number;
}

export interface MarketSimulatorOptions {
  /** 0 (default): any free port. */
  readonly port?: number;
  readonly host?: '127.0.0.1';
  /** Events per second (default 50); 0 starts paused. */
  readonly rate?: number;
  /** The stream stops after this many events (default: never). */
  readonly total?: number;
  /** Fixes every event's content (default `sim`); event ids are `m-<seed>-<seq>`. */
  readonly seed?: string;
  /** Share of malformed events (default 0.01). */
  readonly malformedRate?: number;
  /** Share of non-empty pages that also repeat one or two earlier events (default 0.02). */
  readonly duplicateRate?: number;
  /** ts of seq 1 (default: the clock when the simulator starts). */
  readonly start?: Date;
  /** The simulator's clock: which events exist yet; default the real one. */
  readonly now?: () => Date;
}

/** What the stream is, for a test that computes its expected events (`GET /__sim/config`). */
export interface MarketStreamInfo {
  readonly seed: string;
  readonly malformedRate: number;
  readonly duplicateRate: number;
  /** null: unlimited. */
  readonly total: number | null;
  readonly rate: number;
  readonly start: string;
  /** Events that exist by now: the highest seq a page can hold. */
  readonly available: number;
}

export interface MarketSimulator {
  /** `http://127.0.0.1:port`, no trailing slash; the endpoint is `${url}/v1/events`. */
  readonly url: string;
  readonly port: number;
  /** Replaces every fault setting; counters start again. */
  setFaults(faults: MarketFaults): void;
  /** Events per second from now on (0 pauses); events that already exist keep their ts. */
  setRate(rate: number): void;
  stats(): MarketSimulatorStats;
  info(): MarketStreamInfo;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// Requests

const DEFAULT_RATE = 50;
const DEFAULT_LIMIT = 500;
const MAX_LIMIT = 5_000;
/** Repeats are drawn from the events this close before the cursor: what a flaky endpoint re-sends. */
const REPEAT_WINDOW = 1_000;
const MAX_CONTROL_BODY_BYTES = 64 * 1024;
const EVENTS_PARAMS = new Set(['after', 'limit']);

/** A request the API refuses with 400 and `{"error":true,"reason":…}`. */
class BadRequest extends Error {}

function integerParam(params: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const values = params.getAll(name);
  if (values.length === 0) return fallback;
  if (values.length > 1) throw new BadRequest(`Parameter '${name}' is given more than once`);
  const raw = values[0] as string;
  const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new BadRequest(`Parameter '${name}' must be a whole number from ${min} to ${max}, got '${raw}'`);
  return n;
}

interface Page {
  readonly body: string;
  readonly events: number;
  readonly repeats: number;
}

// ---------------------------------------------------------------------------------------
// Faults and control

function checkFaults(value: unknown): MarketFaults {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadRequest('faults must be a JSON object');
  const faults = value as Record<string, unknown>;
  for (const [key, v] of Object.entries(faults)) {
    if (!['tooManyRequests', 'retryAfterSeconds', 'serverErrors', 'delayMs', 'errorRate'].includes(key)) throw new BadRequest(`unknown fault '${key}'`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new BadRequest(`fault '${key}' must be a number ≥ 0`);
    if (key === 'errorRate' && v > 1) throw new BadRequest("fault 'errorRate' must be between 0 and 1");
  }
  return faults as MarketFaults;
}

function checkShare(name: string, v: number): number {
  if (!Number.isFinite(v) || v < 0 || v > 1) throw new RangeError(`${name} must be between 0 and 1, got ${v}`);
  return v;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_CONTROL_BODY_BYTES) throw new BadRequest('body too large');
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new BadRequest('body is not JSON');
  }
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

const errorBody = (reason: string): string => JSON.stringify({ error: true, reason });

/** Resolves after `ms`, or early when the client hung up (nothing left to answer). */
function holdBack(ms: number, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    res.once('close', done);
    function done(): void {
      clearTimeout(timer);
      res.off('close', done);
      resolve();
    }
  });
}

/** Starts the simulator on loopback; resolves once it listens. */
export async function startMarketSimulator(opts: MarketSimulatorOptions = {}): Promise<MarketSimulator> {
  const host = opts.host ?? '127.0.0.1';
  const now = opts.now ?? ((): Date => new Date());
  const model: MarketModelOptions = { seed: opts.seed ?? 'sim', malformedRate: checkShare('malformedRate', opts.malformedRate ?? 0.01) };
  const duplicateRate = checkShare('duplicateRate', opts.duplicateRate ?? 0.02);
  const total = opts.total ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(total) || total < 0) throw new RangeError(`total must be a whole number ≥ 0, got ${opts.total}`);
  const start = opts.start ?? now();
  const timeline = new MarketTimeline(start, opts.rate ?? DEFAULT_RATE);

  let faults: MarketFaults = {};
  let pending429 = 0;
  let pending500 = 0;
  let random = new SeededRandom('market-simulator-faults');
  const counts = { requests: 0, served: 0, events: 0, repeats: 0, tooManyRequests: 0, errors: 0, badRequests: 0 };

  const setFaults = (f: MarketFaults): void => {
    faults = { ...f };
    pending429 = Math.floor(f.tooManyRequests ?? 0);
    pending500 = Math.floor(f.serverErrors ?? 0);
    random = new SeededRandom('market-simulator-faults');
  };
  const available = (): number => Math.min(total, timeline.countAt(now().getTime()));
  const eventJson = (seq: number): string => marketEventJson(model, seq, timeline.tsMs(seq));

  /**
   * The events after the cursor that exist by now, plus — on a page the hash of (seed, after)
   * picks — one or two earlier ones. Repeats share the limit but never take its last slot,
   * so every non-empty page moves the cursor on.
   */
  function page(after: number, limit: number): Page {
    const newest = available();
    const room = Math.max(0, newest - after);
    const pick = new SeededRandom(`${model.seed}:repeats:${after}`);
    const repeatsWanted = room > 0 && after >= 1 && pick.chance(duplicateRate) ? 1 + pick.int(2) : 0;
    const repeats = Math.min(repeatsWanted, limit - 1);
    const fresh = Math.min(room, limit - repeats);
    const elements: string[] = [];
    for (let seq = after + 1; seq <= after + fresh; seq++) elements.push(eventJson(seq));
    for (let i = 0; i < repeats; i++) {
      const oldest = Math.max(1, after - REPEAT_WINDOW + 1);
      const seq = oldest + pick.int(after - oldest + 1);
      elements.splice(pick.int(elements.length + 1), 0, eventJson(seq));
    }
    const next = fresh > 0 ? after + fresh : after;
    return { body: `{"events":[${elements.join(',')}],"next":${next}}`, events: elements.length, repeats };
  }

  /** The fault this request meets, decided on arrival so concurrent requests count in order. */
  function faultFor(): { status: number; body: string; headers?: Record<string, string> } | undefined {
    if (pending429 > 0) {
      pending429--;
      const headers: Record<string, string> = faults.retryAfterSeconds !== undefined ? { 'retry-after': String(faults.retryAfterSeconds) } : {};
      return { status: 429, body: errorBody('Rate limit exceeded, slow down.'), headers };
    }
    if (pending500 > 0) {
      pending500--;
      return { status: 500, body: errorBody('Internal server error (simulated)') };
    }
    if (faults.errorRate && random.chance(faults.errorRate)) return { status: 500, body: errorBody('Internal server error (simulated, random)') };
    return undefined;
  }

  async function api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    counts.requests++;
    const fault = faultFor();
    if (faults.delayMs) await holdBack(faults.delayMs, res);
    let status: number;
    let body: string;
    let headers: Record<string, string> | undefined;
    if (fault) {
      ({ status, body, headers } = fault);
    } else if (req.method !== 'GET' && req.method !== 'HEAD') {
      [status, body] = [405, errorBody('Method not allowed')];
    } else {
      try {
        for (const name of url.searchParams.keys()) {
          if (!EVENTS_PARAMS.has(name)) throw new BadRequest(`Parameter '${name}' is not supported`);
        }
        const after = integerParam(url.searchParams, 'after', 0, 0, Number.MAX_SAFE_INTEGER);
        const limit = integerParam(url.searchParams, 'limit', DEFAULT_LIMIT, 1, MAX_LIMIT);
        const p = page(after, limit);
        [status, body] = [200, p.body];
        counts.events += p.events;
        counts.repeats += p.repeats;
      } catch (err) {
        if (!(err instanceof BadRequest)) throw err;
        [status, body] = [400, errorBody(err.message)];
      }
    }
    if (status === 200) counts.served++;
    else if (status === 429) counts.tooManyRequests++;
    else if (status >= 500) counts.errors++;
    else counts.badRequests++;
    send(res, status, body, headers);
  }

  const info = (): MarketStreamInfo => ({
    seed: model.seed,
    malformedRate: model.malformedRate,
    duplicateRate,
    total: opts.total ?? null,
    rate: timeline.rate,
    start: start.toISOString(),
    available: available(),
  });

  async function control(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (path === '/__sim/stats' && req.method === 'GET') return send(res, 200, JSON.stringify(counts));
    if (path === '/__sim/config' && req.method === 'GET') return send(res, 200, JSON.stringify(info()));
    if (path === '/__sim/faults' && req.method === 'POST') {
      setFaults(checkFaults(await readJson(req)));
      return send(res, 200, JSON.stringify({ faults }));
    }
    if (path === '/__sim/rate' && req.method === 'POST') {
      const body = await readJson(req);
      const rate = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['rate'] : undefined;
      if (typeof rate !== 'number' || !Number.isFinite(rate) || rate < 0) throw new BadRequest('body must be {"rate": events per second ≥ 0}');
      timeline.setRate(now().getTime(), rate);
      return send(res, 200, JSON.stringify({ rate, available: available() }));
    }
    send(res, 404, errorBody(`no control ${req.method} ${path}`));
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const handled =
      url.pathname === '/v1/events'
        ? api(req, res, url)
        : url.pathname.startsWith('/__sim/')
          ? control(req, res, url.pathname)
          : Promise.resolve(send(res, 404, errorBody('Not Found')));
    handled.catch((err: unknown) => {
      if (err instanceof BadRequest) return send(res, 400, errorBody(err.message));
      counts.errors++;
      send(res, 500, errorBody(`simulator failure: ${(err as Error).message}`));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://${host}:${port}`,
    port,
    setFaults,
    setRate: (rate) => timeline.setRate(now().getTime(), rate),
    stats: () => ({ ...counts }),
    info,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Held-back answers and keep-alive sockets must not keep the server open.
        server.closeAllConnections();
      }),
  };
}
