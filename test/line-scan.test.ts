/**
 * The byte scan behind source A's line accounting: counts and picked text must not
 * depend on where the stream's chunks happen to split the lines.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scanLines, type PickedRecord } from '../lib/curate/line-scan.ts';

async function* chunks(text: string, size: number): AsyncGenerator<Buffer> {
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function* list(xs: number[]): AsyncGenerator<number> {
  yield* xs;
}

async function scan(text: string, size: number, wanted: number[]): Promise<{ lines: number; records: number; picked: PickedRecord[] }> {
  const picked: PickedRecord[] = [];
  const counts = await scanLines(chunks(text, size), list(wanted), (p) => void picked.push(p));
  return { ...counts, picked };
}

describe('scanLines', () => {
  const text = '{"a":1}\n\n  \t\n{"b":"é"}\r\n{"c":3}\n \r\n{"d":4}';

  it('counts lines and records and picks by record ordinal, whatever the chunk size', async () => {
    for (const size of [1, 2, 3, 5, 7, 64, 1 << 20]) {
      const r = await scan(text, size, [2, 4]);
      assert.equal(r.lines, 7, `lines, chunk ${size}`);
      assert.equal(r.records, 4, `records, chunk ${size}`);
      assert.deepEqual(r.picked, [
        { record: 2, line: 4, text: '{"b":"é"}' },
        { record: 4, line: 7, text: '{"d":4}' },
      ], `picked, chunk ${size}`);
    }
  });

  it('counts a trailing newline as the end of the last line, not a new one', async () => {
    assert.deepEqual(await scan('x\ny\n', 3, []), { lines: 2, records: 2, picked: [] });
    assert.deepEqual(await scan('', 3, [1]), { lines: 0, records: 0, picked: [] });
    assert.deepEqual(await scan('\n\n', 1, [1]), { lines: 2, records: 0, picked: [] });
  });

  it('refuses ordinals that do not ascend', async () => {
    await assert.rejects(scan('a\nb\nc\n', 4, [2, 2]), /must ascend/);
  });
});
