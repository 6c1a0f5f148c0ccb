/**
 * Source A's line accounting on crafted input: blank lines, a truncated line followed by a
 * good one (which DuckDB's reader also fails), and each kind of bad value. Every non-blank
 * line must land in exactly one of curated or rejected, with its physical line number.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout } from 'node:timers/promises';
import { loadConfig } from '../lib/config.ts';
import { judgeSourceARows, pickSourceASuspects, rawFileOnDisk, SOURCE_A_REJECTED_SQL, sourceARowsSql, stageSourceASuspects } from '../lib/curate/source-a.ts';
import { openLakeSession, type LakeSession } from '../lib/lake/session.ts';

const good = (id: string): string =>
  JSON.stringify({ event_id: id, customer_id: 'c1', region: 'r01', event_time: '2021-10-01T10:00:00+02:00', amount: 1.5, currency: 'EUR', channel: 'web', attributes: { device: 'ios', campaign: null, tags: ['vip'] } });

describe('source A line accounting', () => {
  let dir: string;
  let session: LakeSession;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tempolake-a-lines-'));
    session = await openLakeSession(loadConfig(), { attach: false });
  });
  after(() => {
    session?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function account(lines: string[]): Promise<{ records: number; rows: string[]; rejected: { line: number; reason: string; record: string }[] }> {
    const file = path.join(dir, `${Math.random()}.jsonl`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    const files = [rawFileOnDisk(file, 'raw/source_a/day=2021-10-04/x.jsonl')];
    const records = await stageSourceASuspects(session, files);
    const rows = (await session.rows<{ event_id: string }>(`SELECT event_id FROM (${sourceARowsSql(files, { curatedDay: '2021-10-01', ingestDay: '2021-10-04' })}) t(event_id) ORDER BY 1`)).map((r) => r.event_id);
    const rejected = (await session.rows<{ line: string; reason: string; record: string }>(`SELECT line, reason, record FROM (${SOURCE_A_REJECTED_SQL}) ORDER BY line`)).map((r) => ({ ...r, line: Number(r.line) }));
    return { records, rows, rejected };
  }

  it('keeps physical line numbers across blank lines and rescues the good line after a truncated one', async () => {
    const lines = [good('e1'), '', good('e2'), '   ', '{"event_id":"e3","custo', good('e4'), JSON.stringify({ event_id: 'e5', region: 'r01' }), good('e6')];
    const { records, rows, rejected } = await account(lines);
    assert.equal(records, 6, 'blank lines are not records');
    assert.deepEqual(rows, ['e1', 'e2', 'e4', 'e6']);
    assert.deepEqual(rejected.map((r) => [r.line, r.reason]), [[5, 'not a JSON object'], [7, 'missing customer_id']]);
    for (const r of rejected) assert.equal(r.record, lines[r.line - 1]);
  });

  it('names each bad value', async () => {
    const bad = (patch: Record<string, unknown>): string => JSON.stringify({ ...JSON.parse(good('x')), ...patch });
    const { rows, rejected } = await account([bad({ event_time: '2021-02-30T08:00:00Z' }), bad({ amount: 'N/A' }), bad({ amount: '' }), 'not json', '[1,2]', good('ok')]);
    assert.deepEqual(rows, ['ok']);
    assert.deepEqual(rejected.map((r) => r.reason), [
      'event_time is not a timestamp: 2021-02-30T08:00:00Z',
      'amount is not a number: N/A',
      'amount is not a number: ',
      'not a JSON object',
      'not a JSON object',
    ]);
  });

  it('gives the same answer when suspects are paged and buffered in small bounds', async () => {
    const lines = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? `{"event_id":"bad${i}","custo` : i % 5 === 0 ? '' : good(`e${i}`)));
    const unbounded = await account(lines);
    const file = path.join(dir, 'bounded.jsonl');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const files = [rawFileOnDisk(file, 'raw/source_a/day=2021-10-04/x.jsonl')];
    // The session stays "busy" for a while: the scan must wait past the buffer bound, not fail or lose picks.
    const verdict = await judgeSourceARows(session, files, { pageSize: 2, maxBufferedChars: 30 });
    const records = await pickSourceASuspects(session, verdict, setTimeout(50));
    const rejected = await session.rows<{ line: string }>(`SELECT line FROM (${SOURCE_A_REJECTED_SQL}) ORDER BY line`);
    assert.equal(records, unbounded.records);
    assert.deepEqual(rejected.map((r) => Number(r.line)), unbounded.rejected.map((r) => r.line));
    assert.equal(unbounded.rejected.length, 14);
  });
});
