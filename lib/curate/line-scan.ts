/**
 * One pass over a newline-delimited byte stream: counts its physical lines and its
 * records (non-blank lines), and picks the text of chosen records by their ordinal.
 *
 * Plain byte search (Buffer.indexOf over the stream's chunks) runs at page-cache speed
 * — about 0.2 s for a 1.3 GB file here, where DuckDB's `read_csv … WITH ORDINALITY` over
 * the same lines took seconds because the ordinal makes its scan single-threaded.
 */

export interface LineCounts {
  /** Physical lines, a last line without its newline included. */
  readonly lines: number;
  /** Lines that are not empty or whitespace only: what a JSON-lines reader returns as rows. */
  readonly records: number;
}

export interface PickedRecord {
  /** 1-based ordinal among the records (non-blank lines). */
  readonly record: number;
  /** 1-based physical line number. */
  readonly line: number;
  /** The line's text, without its line ending. */
  readonly text: string;
}

const NEWLINE = 0x0a;

/** Whitespace as RE2's `\s` has it (DuckDB's regexp `\s*` decides blank lines elsewhere). */
function allWhitespace(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const b = buf[i];
    if (b !== 0x20 && b !== 0x09 && b !== 0x0d && b !== 0x0c) return false;
  }
  return true;
}

/**
 * @param input the bytes; a chunk may be reused by its source once the next one is pulled
 * @param wanted record ordinals to pick, ascending (a paged source: it is pulled only as picks happen)
 * @param onPick receives each picked record, in file order
 */
export async function scanLines(
  input: AsyncIterable<Buffer | string>,
  wanted: AsyncIterable<number>,
  onPick: (picked: PickedRecord) => void | Promise<void>,
): Promise<LineCounts> {
  const want = wanted[Symbol.asyncIterator]();
  const nextWanted = async (): Promise<number> => {
    const n = await want.next();
    return n.done ? Number.POSITIVE_INFINITY : n.value;
  };
  let target = await nextWanted();
  let lines = 0;
  let records = 0;
  // State of the line being read, which may span chunks.
  let blank = true;
  let hasBytes = false;
  let parts: Buffer[] | undefined;

  const pick = async (text: string): Promise<void> => {
    const record = records;
    await onPick({ record, line: lines, text: text.replace(/\r$/, '') });
    target = await nextWanted();
    if (target <= record) throw new RangeError(`wanted record ordinals must ascend: ${target} after ${record}`);
  };

  // The hot loop does as little as it can per line: one indexOf, one byte test, two counters.
  for await (const raw of input) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    const size = chunk.length;
    let i = 0;
    while (i < size) {
      if (!hasBytes && parts === undefined && records + 1 === target) parts = [];
      let j = chunk.indexOf(NEWLINE, i);
      const complete = j >= 0;
      if (!complete) j = size;
      if (j > i) {
        hasBytes = true;
        // A record line starts with `{`: the whitespace test almost always stops at once.
        if (blank) blank = chunk[i] !== 0x7b && allWhitespace(chunk, i, j) ? true : false;
        // Copied: a source may refill the same buffer for its next chunk.
        if (parts !== undefined) parts.push(Buffer.from(chunk.subarray(i, j)));
      }
      i = j + 1;
      if (!complete) break;
      lines++;
      if (!blank) records++;
      if (parts !== undefined) {
        const text = blank ? undefined : Buffer.concat(parts).toString('utf8');
        parts = undefined;
        if (text !== undefined) await pick(text);
      }
      blank = true;
      hasBytes = false;
    }
  }
  if (hasBytes) {
    lines++;
    if (!blank) records++;
    if (parts !== undefined && !blank) await pick(Buffer.concat(parts).toString('utf8'));
  }
  return { lines, records };
}
