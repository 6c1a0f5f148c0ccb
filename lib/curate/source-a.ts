/**
 * Source A (daily customer activity, nested JSON lines) → curated.source_a.
 *
 * The valid rows go straight from DuckDB's newline-delimited JSON reader into the
 * Iceberg table: declared types make the reader do the typing (a value that is not a
 * timestamp or a number comes back NULL), so valid rows cost no more than DuckDB's own
 * JSON → Parquet. The few rows the reader does not pass — "suspects" — are found by a
 * second pass with the same reader and predicate, joined back to the raw line for its text
 * and line number, and judged line by line: a malformed one is rejected with its reason, a
 * good one is curated from its text. (After a truncated line, DuckDB's reader can also fail
 * the next, good line; judging suspects by their own text rescues it.) Every line lands in
 * exactly one of curated or rejected. A has a 3-day lag: raw day D lands in curated D-3.
 */
import type { LakeSession } from '../lake/session.ts';
import { sqlString } from '../lake/session.ts';

export interface RawFileLocation {
  /** What DuckDB reads: a local path or s3:// URL. */
  readonly location: string;
  readonly rawKey: string;
}

const COLUMNS = `{event_id: 'VARCHAR', customer_id: 'VARCHAR', region: 'VARCHAR', event_time: 'TIMESTAMPTZ', amount: 'DOUBLE',
  currency: 'VARCHAR', channel: 'VARCHAR',
  attributes: 'STRUCT(device VARCHAR, campaign STRUCT(id VARCHAR, name VARCHAR), tags VARCHAR[])'}`;

/** Lines that are not JSON come back as all-NULL rows (ignore_errors), so they fail VALID too. */
const reader = (f: RawFileLocation): string =>
  `read_json(${sqlString(f.location)}, format = 'newline_delimited', ignore_errors = true, columns = ${COLUMNS})`;

const VALID = 'event_id IS NOT NULL AND customer_id IS NOT NULL AND region IS NOT NULL AND event_time IS NOT NULL AND amount IS NOT NULL';

/** Every physical line as text. */
const lines = (f: RawFileLocation): string =>
  `read_csv(${sqlString(f.location)}, columns = {'l': 'VARCHAR'}, header = false, delim = E'\\x1f', quote = '', escape = '',
    auto_detect = false, new_line = '\\n', strict_mode = false)`;

const isBlank = (col: string): string => `(${col} IS NULL OR regexp_full_match(${col}, '\\s*'))`;

const SUSPECTS = 'source_a_suspects';

/**
 * Stages (raw_key, line, record, reason) of every line the fast reader did not pass —
 * reason NULL for a line that is a good record after all — and returns how many records
 * (non-blank lines) the files hold, for the publish to account for every one.
 */
export async function stageSourceASuspects(session: LakeSession, files: readonly RawFileLocation[]): Promise<number> {
  await session.run(`CREATE OR REPLACE TEMP TABLE ${SUSPECTS} (raw_key VARCHAR, line BIGINT, record VARCHAR, reason VARCHAR)`);
  let records = 0;
  for (const f of files) {
    // The reader's verdict on every row, in file order: WITH ORDINALITY would make the scan
    // single-threaded, while a table filled in insertion order numbers its rows for free.
    // `attributes` is read as the publish reads it, so both passes judge each row alike.
    await session.run(`CREATE OR REPLACE TEMP TABLE source_a_verdict AS SELECT (${VALID}) AS ok, attributes IS NULL AS no_attributes FROM ${reader(f)}`);
    await session.run('CREATE OR REPLACE TEMP TABLE source_a_bad AS SELECT rowid + 1 AS k FROM source_a_verdict WHERE NOT ok');
    // One pass over the lines counts them (independently of the JSON reader) and picks the
    // suspects' text, assuming no blank lines: then the reader's row k is line k.
    await session.run(`CREATE OR REPLACE TEMP TABLE source_a_scan AS
      SELECT count(*) AS total, count(*) FILTER (WHERE NOT ${isBlank('x.l')}) AS nonblank,
        list({'line': x.ordinality, 'l': x.l}) FILTER (WHERE b.k IS NOT NULL) AS hits
      FROM ${lines(f)} WITH ORDINALITY AS x LEFT JOIN source_a_bad b ON x.ordinality = b.k`);
    const [scan] = await session.rows<{ total: string; nonblank: string }>('SELECT total, nonblank FROM source_a_scan');
    records += Number(scan?.nonblank ?? 0);
    // The JSON reader skips blank lines: with any, its row k is the k-th non-blank line.
    const suspectLines =
      scan?.total === scan?.nonblank
        ? 'SELECT h.line AS line, h.l AS l FROM (SELECT unnest(hits) AS h FROM source_a_scan)'
        : `SELECT n.line, n.l FROM (SELECT row_number() OVER (ORDER BY ordinality) AS k, ordinality AS line, l FROM ${lines(f)} WITH ORDINALITY
             WHERE NOT ${isBlank('l')}) n JOIN source_a_bad b ON n.k = b.k`;
    // Two steps: the reason (several JSON parses) must only ever see the few suspect lines.
    await session.run(`CREATE OR REPLACE TEMP TABLE source_a_suspect_lines AS ${suspectLines}`);
    await session.run(`INSERT INTO ${SUSPECTS} SELECT ${sqlString(f.rawKey)}, line, l, ${reasonOf('l')} FROM source_a_suspect_lines`);
  }
  return records;
}

/** Rows for curated.source_a, in the table's column order: the fast path plus the rescued suspects. */
export function sourceARowsSql(files: readonly RawFileLocation[], opts: { curatedDay: string; ingestDay: string }): string {
  const days = `DATE ${sqlString(opts.curatedDay)}, DATE ${sqlString(opts.ingestDay)}`;
  const fast = files.map(
    (f) => `SELECT event_id, customer_id, region, event_time, amount, currency, channel, attributes.device, attributes.campaign.id,
        attributes.campaign.name, attributes.tags, ${days}, ${sqlString(f.rawKey)}
      FROM ${reader(f)} WHERE ${VALID}`,
  );
  const rescued = `SELECT j.event_id, j.customer_id, j.region, CAST(j.event_time AS TIMESTAMPTZ), CAST(j.amount AS DOUBLE), j.currency, j.channel,
      j.attributes.device, j.attributes.campaign.id, j.attributes.campaign.name, j.attributes.tags, ${days}, raw_key
    FROM (SELECT raw_key, json_transform(record, '${RECORD_SCHEMA}') AS j FROM ${SUSPECTS} WHERE reason IS NULL)`;
  return [...fast, rescued].join('\nUNION ALL\n');
}

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
