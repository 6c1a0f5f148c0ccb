/** market_daily against numbers worked by hand: VWAP, and market_interest over the days before. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { refreshMarketDaily } from '../lib/market/compact.ts';
import { MARKET_TABLES } from '../lib/market/tables.ts';
import { openLakeSession, type LakeSession } from '../lib/lake/session.ts';
import { ensureTables, LINEAGE_COMMITS } from '../lib/lake/tables.ts';
import { startTestLake, type TestLake } from './helpers/lake.ts';

describe('market_daily', () => {
  let lake: TestLake;
  let s: LakeSession;
  const lineage = { workflowId: 'test', runId: 'r', inputs: [] };
  before(async () => {
    lake = await startTestLake();
    s = await openLakeSession(lake.config);
    await ensureTables(s, [...MARKET_TABLES, LINEAGE_COMMITS]);
    // r01: day 1 volume 10 + 30 = 40; day 2 volume 20; day 4 volume 90. r02: day 2 only.
    const e = (id: string, region: string, day: string, price: number, volume: number): string =>
      `('${id}', 0, '${region}', 'GOLD', ${price}, ${volume}, TIMESTAMPTZ '${day} 10:00:00+00', 'LME', 'buy', ['x'], DATE '${day}', 10, 0, 0, 'k')`;
    await s.run(`INSERT INTO lake.curated.market_events VALUES
      ${e('a', 'r01', '2026-11-01', 100, 10)}, ${e('b', 'r01', '2026-11-01', 200, 30)},
      ${e('c', 'r01', '2026-11-02', 150, 20)}, ${e('d', 'r02', '2026-11-02', 10, 5)},
      ${e('f', 'r01', '2026-11-04', 120, 90)}`);
  });
  after(async () => {
    s?.close();
    await lake?.stop();
  });

  it('computes VWAP and the interest ratio from the days before, day by day as the schedule does', async () => {
    for (const day of ['2026-11-01', '2026-11-02', '2026-11-04']) await refreshMarketDaily(s, { from: day, to: day, lineage });
    const rows = await s.rows<{ region: string; day: string; events: string; volume: number; avg_price: number; vwap: number; interest: number | null }>(
      `SELECT region, CAST("day" AS VARCHAR) AS day, events, volume, avg_price, vwap, market_interest AS interest FROM lake.operational.market_daily ORDER BY region, "day"`,
    );
    assert.deepEqual(rows, [
      // (100×10 + 200×30) / 40 = 175; no earlier day: interest unknown.
      { region: 'r01', day: '2026-11-01', events: '2', volume: 40, avg_price: 150, vwap: 175, interest: null },
      // 20 / avg(40) = 0.5
      { region: 'r01', day: '2026-11-02', events: '1', volume: 20, avg_price: 150, vwap: 150, interest: 0.5 },
      // 90 / avg(40, 20) = 3
      { region: 'r01', day: '2026-11-04', events: '1', volume: 90, avg_price: 120, vwap: 120, interest: 3 },
      { region: 'r02', day: '2026-11-02', events: '1', volume: 5, avg_price: 10, vwap: 10, interest: null },
    ]);
    // A refresh over a range gives the same answer as day by day, and replaces instead of doubling.
    await refreshMarketDaily(s, { from: '2026-11-01', to: '2026-11-04', lineage });
    const again = await s.rows<{ n: string; i: number }>(`SELECT count(*) AS n, max(market_interest) AS i FROM lake.operational.market_daily`);
    assert.deepEqual(again, [{ n: '4', i: 3 }]);
  });
});
