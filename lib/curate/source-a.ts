/**
 * Source A (daily customer activity, nested JSON lines) → curated.source_a.
 *
 * The valid rows go straight from DuckDB's newline-delimited JSON reader into the
 * Iceberg table: declared types make the reader do the typing (a value that is not a
 * timestamp or a number comes back NULL), so valid rows cost what DuckDB's own JSON →
 * Parquet costs. Every line must still land in exactly one of curated or rejected, with
 * its line number, and the reader numbers nothing without going single-threaded. So:
 *  1. before the publish, the same reader projected to the checked fields (a quarter of
 *     the publish's cost) records the ordinals of the rows it does not pass: "suspects";
 *  2. while DuckDB inserts the valid rows, one byte scan on the Node thread counts the
 *     records and picks the suspects' text and line numbers;
 *  3. each suspect is judged from its own text: a malformed one is rejected with its
 *     reason, a good one is curated (after a truncated line DuckDB's reader can also fail
 *     the next, good line: judging by text rescues it).
 * A has a 3-day lag: raw day D lands in curated D-3.
 */
import { open } from 'node:fs/promises';
import type { LakeSession } from '../lake/session.ts';
import { sqlString } from '../lake/session.ts';
import { scanLines } from './line-scan.ts';

export interface RawFileLocation {
  /** What DuckDB reads: a local path or s3:// URL. */
  readonly location: string;
  readonly rawKey: string;
  /** The same bytes as a stream, for the line scan. */
  open(): Promise<AsyncIterable<Buffer>>;
}

/** A raw file on local disk (tests, the benchmark). */
export const rawFileOnDisk = (file: string, rawKey: string): RawFileLocation => ({
  location: file,
  rawKey,
  open: async () => readChunks(file),
});

/** A file's bytes through one reused 4 MiB buffer: half the CPU of a ReadStream's fresh chunks. */
async function* readChunks(file: string): AsyncGenerator<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(4 << 20);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) return;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

const COLUMNS = `{event_id: 'VARCHAR', customer_id: 'VARCHAR', region: 'VARCHAR', event_time: 'TIMESTAMPTZ', amount: 'DOUBLE',
  currency: 'VARCHAR', channel: 'VARCHAR',
  attributes: 'STRUCT(device VARCHAR, campaign STRUCT(id VARCHAR, name VARCHAR), tags VARCHAR[])'}`;

/** Lines that are not JSON come back as all-NULL rows (ignore_errors), so they fail VALID too. */
const reader = (f: RawFileLocation): string =>
  `read_json(${sqlString(f.location)}, format = 'newline_delimited', ignore_errors = true, columns = ${COLUMNS})`;

const VALID = 'event_id IS NOT NULL AND customer_id IS NOT NULL AND region IS NOT NULL AND event_time IS NOT NULL AND amount IS NOT NULL';

const SUSPECTS = 'source_a_suspects';
const SUSPECT_LINES = 'source_a_suspect_lines';

/** Bounds that keep a file of bad lines out of memory; small values in tests exercise the paths. */
export interface SuspectBounds {
  /** Suspect ordinals read from DuckDB per page. */
  readonly pageSize?: number;
  /** Suspect text held in memory while the session is busy inserting; past this the scan waits. */
  readonly maxBufferedChars?: number;
}
const DEFAULT_BOUNDS: Required<SuspectBounds> = { pageSize: 100_000, maxBufferedChars: 64 << 20 };

export interface SourceAVerdict {
  readonly bounds: Required<SuspectBounds>;
  readonly files: readonly { readonly file: RawFileLocation; readonly table: string; readonly suspects: number; readonly firstPage: readonly number[] }[];
}

/**
 * Pass 1 over the bytes: the fast reader's verdict on every row of each file, kept as the
 * ordinals of the rows it does not pass ("suspects"). Projected to the checked fields, it
 * costs a quarter of the publish's read of the same file. Runs outside the publish's
 * transaction so its tables outlive a retried commit.
 */
export async function judgeSourceARows(session: LakeSession, files: readonly RawFileLocation[], opts: SuspectBounds = {}): Promise<SourceAVerdict> {
  const bounds = { ...DEFAULT_BOUNDS, ...opts };
  await session.run(`CREATE OR REPLACE TEMP TABLE ${SUSPECT_LINES} (raw_key VARCHAR, line BIGINT, l VARCHAR)`);
  await session.run(`CREATE OR REPLACE TEMP TABLE ${SUSPECTS} (raw_key VARCHAR, line BIGINT, record VARCHAR, reason VARCHAR)`);
  const judged = [];
  for (const [i, file] of files.entries()) {
    // In file order: WITH ORDINALITY would make the scan single-threaded, while a table
    // filled in insertion order numbers its rows for free. A value that does not fit its
    // type nulls only that field, so `attributes` need not be read to judge a row.
    const table = `source_a_bad_${i}`;
    await session.run(`CREATE OR REPLACE TEMP TABLE source_a_verdict AS SELECT (${VALID}) AS ok FROM ${reader(file)}`);
    await session.run(`CREATE OR REPLACE TEMP TABLE ${table} AS SELECT rowid + 1 AS k FROM source_a_verdict WHERE NOT ok`);
    const [count] = await session.rows<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
    judged.push({ file, table, suspects: Number(count?.n ?? 0), firstPage: await ordinalPage(session, table, 0, bounds.pageSize) });
  }
  await session.run('DROP TABLE source_a_verdict');
  return { bounds, files: judged };
}

const ordinalPage = async (session: LakeSession, table: string, after: number, size: number): Promise<number[]> =>
  (await session.rows<{ k: string }>(`SELECT k FROM ${table} WHERE k > ${after} ORDER BY k LIMIT ${size}`)).map((r) => Number(r.k));

/**
 * Pass 2: one byte scan per file counts its records (non-blank lines, independently of the
 * JSON reader) and picks the suspects' text and line numbers — the reader's row k is the
 * k-th record — then judges each suspect from its own text: reason NULL for a line that
 * is a good record after all. Returns the files' record count, for the publish to account
 * for every one.
 *
 * Made to run while the session inserts the valid rows: it does not touch the session
 * until `sessionFree` settles (picks wait in memory up to a bound, then the scan waits).
 */
export async function pickSourceASuspects(session: LakeSession, verdict: SourceAVerdict, sessionFree: Promise<unknown>): Promise<number> {
  let free = false;
  const whenFree = sessionFree.then(
    () => void (free = true),
    () => void (free = true),
  );
  const { pageSize, maxBufferedChars } = verdict.bounds;
  let records = 0;
  const picks: { rawKey: string; line: number; text: string }[] = [];
  let bufferedChars = 0;
  let cleared = false;
  const flush = async (): Promise<void> => {
    await whenFree;
    // Rows a rolled-back attempt left behind, if any, must not count twice.
    if (!cleared) await session.run(`DELETE FROM ${SUSPECT_LINES}; DELETE FROM ${SUSPECTS}`);
    cleared = true;
    await appendSuspectLines(session, picks.splice(0));
    bufferedChars = 0;
  };
  for (const { file, table, suspects, firstPage } of verdict.files) {
    async function* ordinals(): AsyncGenerator<number> {
      let page = firstPage;
      for (;;) {
        yield* page;
        if (page.length < pageSize) return;
        await whenFree;
        page = await ordinalPage(session, table, page[page.length - 1] ?? 0, pageSize);
      }
    }
    const counts = await scanLines(await file.open(), suspects > 0 ? ordinals() : noOrdinals(), async ({ line, text }) => {
      picks.push({ rawKey: file.rawKey, line, text });
      bufferedChars += text.length;
      if (bufferedChars > maxBufferedChars || (free && picks.length >= 10_000)) await flush();
    });
    records += counts.records;
  }
  await flush();
  // Two steps: the reason (several JSON parses) must only ever see the few suspect lines.
  await session.run(`INSERT INTO ${SUSPECTS} SELECT raw_key, line, l, ${reasonOf('l')} FROM ${SUSPECT_LINES}`);
  return records;
}

async function* noOrdinals(): AsyncGenerator<number> {}

async function appendSuspectLines(session: LakeSession, picks: readonly { rawKey: string; line: number; text: string }[]): Promise<void> {
  if (picks.length === 0) return;
  const appender = await session.connection.createAppender(SUSPECT_LINES, 'main', 'temp');
  try {
    for (const p of picks) {
      appender.appendVarchar(p.rawKey);
      appender.appendBigInt(BigInt(p.line));
      appender.appendVarchar(p.text);
      appender.endRow();
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
}

/** Both passes in a row, for callers with nothing to overlap them with. */
export async function stageSourceASuspects(session: LakeSession, files: readonly RawFileLocation[], opts?: SuspectBounds): Promise<number> {
  return pickSourceASuspects(session, await judgeSourceARows(session, files, opts), Promise.resolve());
}

/** Valid rows for curated.source_a straight from the reader, in the table's column order. */
export function sourceAFastRowsSql(files: readonly RawFileLocation[], days: SourceADays): string {
  return files
    .map(
      (f) => `SELECT event_id, customer_id, region, event_time, amount, currency, channel, attributes.device, attributes.campaign.id,
        attributes.campaign.name, attributes.tags, ${daysSql(days)}, ${sqlString(f.rawKey)}
      FROM ${reader(f)} WHERE ${VALID}`,
    )
    .join('\nUNION ALL\n');
}

/** The suspects judged good after all, typed from their text like the reader types the rest. */
export function sourceARescuedRowsSql(days: SourceADays): string {
  return `SELECT j.event_id, j.customer_id, j.region, CAST(j.event_time AS TIMESTAMPTZ), CAST(j.amount AS DOUBLE), j.currency, j.channel,
      j.attributes.device, j.attributes.campaign.id, j.attributes.campaign.name, j.attributes.tags, ${daysSql(days)}, raw_key
    FROM (SELECT raw_key, json_transform(record, '${RECORD_SCHEMA}') AS j FROM ${SUSPECTS} WHERE reason IS NULL)`;
}

export interface SourceADays {
  readonly curatedDay: string;
  readonly ingestDay: string;
}

const daysSql = (d: SourceADays): string => `DATE ${sqlString(d.curatedDay)}, DATE ${sqlString(d.ingestDay)}`;

/** Every row for curated.source_a: the fast path plus the rescued suspects. */
export const sourceARowsSql = (files: readonly RawFileLocation[], days: SourceADays): string =>
  `${sourceAFastRowsSql(files, days)}\nUNION ALL\n${sourceARescuedRowsSql(days)}`;

export const SOURCE_A_REJECTED_SQL = `SELECT raw_key, line, reason, record FROM ${SUSPECTS} WHERE reason IS NOT NULL`;

const RECORD_SCHEMA =
  '{"event_id":"VARCHAR","customer_id":"VARCHAR","region":"VARCHAR","event_time":"VARCHAR","amount":"VARCHAR","currency":"VARCHAR",' +
  '"channel":"VARCHAR","attributes":{"device":"VARCHAR","campaign":{"id":"VARCHAR","name":"VARCHAR"},"tags":["VARCHAR"]}}';

/** Why a raw line is not a valid record, from its text; NULL when it is one (only run on suspects). */
function reasonOf(text: string): string {
  const j = `json_transform(${text}, '{"event_id":"VARCHAR","customer_id":"VARCHAR","region":"VARCHAR","event_time":"VARCHAR","amount":"VARCHAR"}')`;
  return `CASE
    WHEN NOT json_valid(${text}) OR json_type(${text}) <> 'OBJECT' THEN 'not a JSON object'
    WHEN ${j}.event_id IS NULL THEN 'missing event_id'
    WHEN ${j}.customer_id IS NULL THEN 'missing customer_id'
    WHEN ${j}.region IS NULL THEN 'missing region'
    WHEN ${j}.event_time IS NULL THEN 'missing event_time'
    WHEN try_cast(${j}.event_time AS TIMESTAMPTZ) IS NULL THEN 'event_time is not a timestamp: ' || ${j}.event_time
    WHEN ${j}.amount IS NULL THEN 'missing amount'
    WHEN try_cast(${j}.amount AS DOUBLE) IS NULL THEN 'amount is not a number: ' || ${j}.amount
  END`;
}
