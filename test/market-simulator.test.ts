/**
 * Source D's REST simulator, in-process on a free loopback port with a fixed clock: cursor
 * pages that follow each other without gaps, repeats that are byte-identical to the first
 * delivery, malformed events exactly where the model says (and refused by the same check the
 * pipeline uses), events that wait for their timestamp, the end of a finite stream, faults,
 * and the bounds of `limit`.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { checkMarketEvent, type MarketPage } from '../lib/market/events.ts';
import { expectedMarketCounts, malformedKind, marketElementText, marketEventJson, MarketTimeline } from '../simulators/market/model.ts';
import { startMarketSimulator, type MarketSimulator, type MarketSimulatorOptions } from '../simulators/market/server.ts';

const START = new Date('2026-11-25T14:00:00.000Z');
const SECOND = 1000;

/** A simulator whose clock the test moves. */
async function simulator(opts: MarketSimulatorOptions & { nowMs?: number } = {}): Promise<{ sim: MarketSimulator; clock: { ms: number } }> {
  const clock = { ms: opts.nowMs ?? START.getTime() };
  const sim = await startMarketSimulator({ port: 0, start: START, now: () => new Date(clock.ms), ...opts });
  return { sim, clock };
}

async function get(sim: MarketSimulator, query: string): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(`${sim.url}/v1/events${query}`);
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function page(sim: MarketSimulator, afterSeq: number, limit?: number): Promise<MarketPage & { texts: string[] }> {
  const res = await get(sim, `?after=${afterSeq}${limit === undefined ? '' : `&limit=${limit}`}`);
  assert.equal(res.status, 200, res.text);
  const body = JSON.parse(res.text) as MarketPage;
  return { ...body, texts: body.events.map((e) => JSON.stringify(e)) };
}

/** The seq an element stands for; a not-JSON element still starts with its id and seq. */
function seqOf(element: unknown): number {
  if (typeof element === 'string') {
    const m = /"seq":(\d+),/.exec(element);
    assert.ok(m, `a string element without a seq: ${element}`);
    return Number(m[1]);
  }
  assert.ok(typeof element === 'object' && element !== null);
  const seq = (element as Record<string, unknown>)['seq'];
  assert.equal(typeof seq, 'number');
  return seq as number;
}

interface Drained {
  /** First delivery of each seq, as its element's JSON. */
  readonly first: Map<number, string>;
  readonly elements: number;
  readonly repeats: number;
  readonly pages: number;
}

/** Reads the stream from the start by `next`, checking each page as it goes. */
async function drain(sim: MarketSimulator, limit: number): Promise<Drained> {
  const first = new Map<number, string>();
  let cursor = 0;
  let elements = 0;
  let repeats = 0;
  let pages = 0;
  for (;;) {
    const p = await page(sim, cursor, limit);
    pages++;
    assert.ok(p.events.length <= limit, `page of ${p.events.length} over limit ${limit}`);
    const fresh: number[] = [];
    p.events.forEach((e, i) => {
      const seq = seqOf(e);
      const text = p.texts[i] as string;
      if (seq <= cursor) {
        repeats++;
        assert.equal(text, first.get(seq), `repeat of seq ${seq} is byte-identical to its first delivery`);
      } else {
        fresh.push(seq);
        first.set(seq, text);
      }
    });
    elements += p.events.length;
    assert.deepEqual(fresh, Array.from({ length: fresh.length }, (_, i) => cursor + 1 + i), 'new events follow the cursor in seq order, no gaps');
    assert.equal(p.next, fresh.length > 0 ? cursor + fresh.length : cursor);
    if (fresh.length === 0) {
      assert.equal(p.events.length, 0, 'a page with nothing new repeats nothing');
      return { first, elements, repeats, pages };
    }
    cursor = p.next;
  }
}

describe('market simulator', () => {
  const model = { seed: 'test', malformedRate: 0.05 };
  const TOTAL = 1_200;
  let sim: MarketSimulator;
  let drained: Drained;

  before(async () => {
    // Clock long past the last event: the whole finite stream exists.
    ({ sim } = await simulator({ ...model, rate: 100, total: TOTAL, duplicateRate: 0.4, nowMs: START.getTime() + 3_600 * SECOND }));
    drained = await drain(sim, 37);
  });
  after(async () => {
    await sim.close();
  });
  afterEach(() => {
    sim.setFaults({});
  });

  it('pages follow each other by `next` without gaps, up to `total` and no further', async () => {
    assert.deepEqual([...drained.first.keys()], Array.from({ length: TOTAL }, (_, i) => i + 1));
    const end = await page(sim, TOTAL);
    assert.deepEqual([end.events.length, end.next], [0, TOTAL]);
    const beyond = await page(sim, TOTAL + 50);
    assert.deepEqual([beyond.events.length, beyond.next], [0, TOTAL + 50], 'a cursor past the end stays where it is');
  });

  it('repeats events it served before, byte-identical, and counts them', () => {
    assert.ok(drained.repeats > 0, 'duplicateRate 0.4 over ~33 pages repeats something');
    const stats = sim.stats();
    assert.equal(stats.repeats, drained.repeats);
    assert.equal(stats.events, drained.elements);
    assert.equal(stats.events, TOTAL + drained.repeats);
    assert.ok(stats.served >= drained.pages);
  });

  it('serves exactly the model’s bytes, and the same page for the same cursor', async () => {
    const timeline = new MarketTimeline(START, 100);
    for (const [seq, text] of drained.first) assert.equal(text, marketEventJson(model, seq, timeline.tsMs(seq)));
    const again = await get(sim, '?after=370&limit=37');
    assert.equal((await get(sim, '?after=370&limit=37')).text, again.text);
  });

  it('spreads events over r01..r20 unevenly, some regions busier than others', () => {
    const perRegion = new Map<string, number>();
    for (const text of drained.first.values()) {
      const region = (JSON.parse(text) as { region?: unknown }).region;
      if (typeof region === 'string') perRegion.set(region, (perRegion.get(region) ?? 0) + 1);
    }
    assert.equal(perRegion.size, 20);
    assert.ok([...perRegion.keys()].every((r) => /^r(0[1-9]|1\d|20)$/.test(r)));
    assert.ok((perRegion.get('r01') ?? 0) > 3 * (perRegion.get('r20') ?? 0), JSON.stringify([...perRegion]));
  });

  it('malformed events sit at the seqs the model names, and checkMarketEvent refuses exactly those', () => {
    const expected = expectedMarketCounts(model, TOTAL);
    assert.ok(expected.malformed > 20 && expected.malformed < 110, `about 5% malformed, got ${expected.malformed}`);
    assert.ok(Object.values(expected.byKind).every((n) => n > 0), `every kind occurs: ${JSON.stringify(expected.byKind)}`);
    const refused: number[] = [];
    for (const [seq, text] of drained.first) {
      const checked = checkMarketEvent(marketElementText(JSON.parse(text)));
      if (!checked.ok) {
        refused.push(seq);
        const reason = { 'price-not-a-number': /^price/, 'missing-region': /^missing region$/, 'bad-ts': /^ts/, 'negative-volume': /^volume/, 'not-json': /^not JSON$/ }[
          malformedKind(model, seq) ?? 'not-json'
        ];
        assert.match(checked.reason, reason, `seq ${seq}`);
      } else {
        assert.equal(checked.event.seq, seq);
        assert.equal(checked.event.event_id, `m-test-${seq}`);
      }
    }
    assert.deepEqual(refused, expected.malformedSeqs);
    assert.equal(TOTAL - refused.length, expected.valid);
    // A not-JSON event travels as a JSON string element; re-stringifying it is still refused.
    const notJson = refused.find((seq) => malformedKind(model, seq) === 'not-json') as number;
    const element: unknown = JSON.parse(drained.first.get(notJson) as string);
    assert.equal(typeof element, 'string');
    assert.equal(checkMarketEvent(JSON.stringify(element)).ok, false);
  });

  it('answers 429 with Retry-After, then 500s, then pages again — set in-process or over /__sim/faults', async () => {
    sim.setFaults({ tooManyRequests: 2, retryAfterSeconds: 3, serverErrors: 1 });
    const a = await get(sim, '?after=0');
    const b = await get(sim, '?after=0');
    const c = await get(sim, '?after=0');
    const d = await get(sim, '?after=0');
    assert.deepEqual([a.status, b.status, c.status, d.status], [429, 429, 500, 200]);
    assert.equal(a.headers.get('retry-after'), '3');
    assert.equal(JSON.parse(a.text).error, true);

    const before = sim.stats();
    const res = await fetch(`${sim.url}/__sim/faults`, { method: 'POST', body: JSON.stringify({ tooManyRequests: 1 }) });
    assert.equal(res.status, 200);
    const e = await get(sim, '?after=0');
    assert.equal(e.status, 429);
    assert.equal(e.headers.get('retry-after'), null, 'no Retry-After unless set');
    assert.equal((await get(sim, '?after=0')).status, 200);

    sim.setFaults({ errorRate: 1 });
    assert.equal((await get(sim, '?after=0')).status, 500);
    const stats = sim.stats();
    assert.equal(stats.tooManyRequests - before.tooManyRequests, 1);
    assert.equal(stats.errors - before.errors, 1);

    const bad = await fetch(`${sim.url}/__sim/faults`, { method: 'POST', body: JSON.stringify({ teapot: 1 }) });
    assert.equal(bad.status, 400);
    const overHttp = (await (await fetch(`${sim.url}/__sim/stats`)).json()) as Record<string, number>;
    assert.deepEqual(Object.keys(overHttp).sort(), ['badRequests', 'errors', 'events', 'repeats', 'requests', 'served', 'tooManyRequests']);
  });

  it('holds answers back by delayMs', async () => {
    sim.setFaults({ delayMs: 150 });
    const t0 = Date.now();
    assert.equal((await get(sim, '?after=0&limit=1')).status, 200);
    assert.ok(Date.now() - t0 >= 140);
  });

  it('bounds limit (default 500, at most 5000) and refuses bad parameters with 400 JSON', async () => {
    assert.equal((await page(sim, 0)).next, 500, 'default limit 500');
    const one = await page(sim, 400, 1);
    assert.deepEqual([one.events.length, one.next], [1, 401], 'limit 1 never gives its slot to a repeat');
    assert.equal((await page(sim, 0, 5000)).next, TOTAL);
    for (const query of ['?limit=0', '?limit=5001', '?limit=abc', '?after=-1', '?after=1.5', '?after=', '?after=1&after=2', '?cursor=3']) {
      const res = await get(sim, query);
      assert.equal(res.status, 400, query);
      assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
      assert.match((JSON.parse(res.text) as { reason: string }).reason, /after|limit|cursor/, query);
    }
    assert.equal((await fetch(`${sim.url}/v1/events`, { method: 'POST' })).status, 405);
    assert.equal((await fetch(`${sim.url}/v2/events`)).status, 404);
  });
});

describe('market simulator clock', () => {
  let sim: MarketSimulator;
  let clock: { ms: number };

  before(async () => {
    ({ sim, clock } = await simulator({ seed: 'clock', rate: 100, duplicateRate: 0, malformedRate: 0 }));
  });
  after(async () => {
    await sim.close();
  });

  it('serves no event before its ts', async () => {
    clock.ms = START.getTime() - 1;
    assert.equal((await page(sim, 0)).events.length, 0, 'nothing before start');
    clock.ms = START.getTime();
    assert.equal((await page(sim, 0)).next, 1, 'seq 1 at start');
    clock.ms = START.getTime() + SECOND;
    const p = await page(sim, 0, 5000);
    assert.equal(p.next, 101, '100 per second after the first');
    for (const e of p.events) assert.ok(Date.parse((e as { ts: string }).ts) <= clock.ms);
    assert.equal((p.events.at(-1) as { ts: string }).ts, '2026-11-25T14:00:01.000Z');
    clock.ms += 9;
    assert.equal((await page(sim, 101)).events.length, 0, 'the next event is 10 ms later');
    clock.ms += 1;
    assert.equal((await page(sim, 101)).next, 102);
    assert.equal(sim.info().available, 102);
  });

  it('a rate change moves only events still to come; 0 pauses, over /__sim/rate too', async () => {
    clock.ms = START.getTime() + 2 * SECOND;
    const served = (await page(sim, 0, 5000)).texts;
    assert.equal(served.length, 201);
    sim.setRate(0);
    clock.ms += 60 * SECOND;
    assert.equal((await page(sim, 201)).events.length, 0, 'paused');
    const res = await fetch(`${sim.url}/__sim/rate`, { method: 'POST', body: JSON.stringify({ rate: 1000 }) });
    assert.equal(res.status, 200);
    clock.ms += 100;
    const p = await page(sim, 0, 5000);
    assert.deepEqual(p.texts.slice(0, 201), served, 'served events keep their bytes');
    assert.equal(p.next, 201 + 101, 'from the change on, 1000 per second');
    assert.equal((p.events[201] as { ts: string }).ts, new Date(START.getTime() + 62 * SECOND).toISOString());
    assert.equal((await fetch(`${sim.url}/__sim/rate`, { method: 'POST', body: '{"rate":-1}' })).status, 400);
  });
});
