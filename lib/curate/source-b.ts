/**
 * Source B (periodic customer reference extract, CSV) → curated.source_b.
 * The partition comes from the configured timestamp column when the file has it and
 * the row's value parses, else from the ingestion day. Rows with the wrong number of
 * columns are caught by DuckDB's CSV reject tables; bad values by the checks below.
 */
import type { LakeSession } from '../lake/session.ts';
import { sqlString } from '../lake/session.ts';
import { MalformedFileError } from './errors.ts';

const REQUIRED = ['customer_id', 'name', 'email', 'region', 'segment', 'signup_date'] as const;


let scan = 0;

/** Reads one CSV extract into `staged_b`. Returns whether the file carried the timestamp column. */
export async function stageSourceB(
  session: LakeSession,
  opts: { location: string; rawKey: string; timestampField: string },
): Promise<{ hasTimestamp: boolean }> {
  const loc = sqlString(opts.location);
  // The header is read as a plain line: DuckDB's dialect sniffer gives up on a file whose
  // malformed rows are exactly what we want to catch.
  const [first] = await session.rows<{ l: string | null }>(
    `SELECT l FROM read_csv(${loc}, columns = {'l': 'VARCHAR'}, header = false, delim = E'\\x1f', quote = '', escape = '', auto_detect = false) LIMIT 1`,
  );
  const names = (first?.l ?? '').replace(/^\uFEFF/, '').split(',').map((h) => h.trim().replace(/^"|"$/g, ''));
  const missing = REQUIRED.filter((c) => !names.includes(c));
  if (missing.length > 0) throw new MalformedFileError(`${opts.rawKey}: header lacks ${missing.join(', ')} (found ${names.join(', ') || 'nothing'})`);
  const columns = `{${names.map((n) => `${sqlString(n)}: 'VARCHAR'`).join(', ')}}`;
  const csv = `${loc}, header = true, auto_detect = false, columns = ${columns}, delim = ',', quote = '"', escape = '"'`;
  const hasTimestamp = names.includes(opts.timestampField);
  const ts = hasTimestamp ? `"${opts.timestampField.replaceAll('"', '""')}"` : 'NULL';

  const id = ++scan;
  await session.run(`CREATE TEMP TABLE IF NOT EXISTS staged_b (
    raw_key VARCHAR, line BIGINT, reason VARCHAR, record VARCHAR,
    customer_id VARCHAR, name VARCHAR, email VARCHAR, region VARCHAR, segment VARCHAR, signup_date DATE, updated_at TIMESTAMPTZ)`);
  await session.run(`CREATE OR REPLACE TEMP TABLE parsed_b AS
    SELECT row_number() OVER () AS ordinal, * FROM read_csv(${csv}, store_rejects = true,
      rejects_table = 'rejects_b_${id}', rejects_scan = 'rejects_scan_b_${id}')`);
  await session.run(`INSERT INTO staged_b
    SELECT ${sqlString(opts.rawKey)}, ordinal,
      CASE
        WHEN customer_id IS NULL OR trim(customer_id) = '' THEN 'missing customer_id'
        WHEN try_cast(signup_date AS DATE) IS NULL THEN 'signup_date is not a date: ' || coalesce(signup_date, 'null')
        WHEN ${ts} IS NOT NULL AND trim(${ts}) <> '' AND try_cast(${ts} AS TIMESTAMPTZ) IS NULL
          THEN '${opts.timestampField} is not a timestamp: ' || ${ts}
      END AS reason,
      concat_ws(',', customer_id, name, email, region, segment, signup_date${hasTimestamp ? `, ${ts}` : ''}),
      customer_id, name, email, region, segment, try_cast(signup_date AS DATE),
      ${hasTimestamp ? `try_cast(nullif(trim(${ts}), '') AS TIMESTAMPTZ)` : 'NULL'}
    FROM parsed_b`);
  // One reject row per missing column: keep the first per line.
  await session.run(`INSERT INTO staged_b (raw_key, line, reason, record)
    SELECT ${sqlString(opts.rawKey)}, line, arg_min(error_message, column_idx), arg_min(csv_line, column_idx)
    FROM rejects_b_${id} GROUP BY line`);
  return { hasTimestamp };
}

/** Rows for curated.source_b: partition from the timestamp when present, else the ingestion day. */
export function sourceBRowsSql(opts: { ingestDay: string }): string {
  const ingest = `DATE ${sqlString(opts.ingestDay)}`;
  return `SELECT customer_id, name, email, region, segment, signup_date, updated_at,
      coalesce(CAST(updated_at AS DATE), ${ingest}), ${ingest}, raw_key, line
    FROM staged_b WHERE reason IS NULL`;
}

export const SOURCE_B_REJECTED_SQL = 'SELECT raw_key, line, reason, record FROM staged_b WHERE reason IS NOT NULL';
