/**
 * A customer's uploaded file → the Iceberg table `personal_<customer>.<name>`. DuckDB infers
 * and types the columns (CSV: its sniffer; NDJSON: its JSON reader; Parquet: the file's own
 * schema). Rows that do not fit are reported with their line numbers and nothing is
 * published. Column names become lower-case identifiers (`Order Id` → `order_id`).
 *
 * A re-upload with the same columns replaces the rows in one commit. One with other columns
 * drops the table and creates it anew with its rows (DuckDB cannot do both in one Iceberg
 * transaction): for that moment readers find no table, never a mixed one.
 */
import { inLakeTransaction } from '../lake/publish.ts';
import { lakeTableColumns } from '../analysis/dataset-join.ts';
import { LAKE, sqlString, type LakeSession } from '../lake/session.ts';

export type UploadFormat = 'csv' | 'ndjson' | 'parquet';

export interface UploadProblem {
  readonly line: number | null;
  readonly reason: string;
}

/** The file cannot be published as it is: `problems` says where and why. Never retried. */
export class InvalidUploadError extends Error {
  override name = 'InvalidUpload';
  constructor(
    message: string,
    readonly problems: readonly UploadProblem[],
  ) {
    super(message);
  }
}

/** How many bad rows a rejection lists (the count in the message is the whole). */
const MAX_PROBLEMS = 100;
const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

const quoteIdent = (s: string): string => `"${s.replaceAll('"', '""')}"`;

/** `Order Id` → `order_id`; duplicates get `_2`, `_3`; an empty name becomes `column_<n>`. */
export function normalizeColumnNames(names: readonly string[]): string[] {
  const seen = new Set<string>();
  return names.map((raw, i) => {
    let base = raw
      .normalize('NFKD')
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, '_')
      .replace(/^_+|_+$/g, '')
      .slice(0, 56);
    if (!base) base = `column_${i + 1}`;
    if (/^[0-9]/.test(base)) base = `c_${base}`;
    let name = base;
    for (let n = 2; seen.has(name); n++) name = `${base}_${n}`;
    seen.add(name);
    return name;
  });
}

/** Loads the file into the temp table `upload_rows` (typed), or throws InvalidUploadError. */
async function readTyped(session: LakeSession, location: string, format: UploadFormat): Promise<void> {
  const file = sqlString(location);
  if (format === 'csv') {
    await session.run(`CREATE OR REPLACE TEMP TABLE upload_rows AS
      SELECT * FROM read_csv(${file}, header = true, store_rejects = true, rejects_table = 'upload_rejects', rejects_scan = 'upload_rejects_scan')`);
    const rejected = await session.rows<{ line: string; reason: string }>(
      `SELECT line, error_message AS reason FROM upload_rejects ORDER BY line LIMIT ${MAX_PROBLEMS}`,
    );
    if (rejected.length > 0) {
      const [total] = await session.rows<{ n: string }>('SELECT count(*) AS n FROM upload_rejects');
      const n = Number(total?.n);
      throw new InvalidUploadError(`${n} ${n === 1 ? 'row' : 'rows'} of the CSV ${n === 1 ? 'does' : 'do'} not fit the columns inferred from the file`, rejected.map((r) => ({ line: Number(r.line), reason: r.reason })));
    }
    return;
  }
  if (format === 'ndjson') {
    // Every line must be one JSON object: checked line by line so each bad one is named.
    const bad = await session.rows<{ line: string; reason: string }>(`
      WITH lines AS (
        SELECT unnest(string_split(content, chr(10))) AS text, generate_subscripts(string_split(content, chr(10)), 1) AS line FROM read_text(${file})
      )
      SELECT line, CASE WHEN NOT json_valid(text) THEN 'not valid JSON' ELSE 'not a JSON object' END AS reason
      FROM lines WHERE trim(text) <> '' AND (NOT json_valid(text) OR json_type(text) <> 'OBJECT') ORDER BY line`);
    if (bad.length > 0) {
      throw new InvalidUploadError(`${bad.length} ${bad.length === 1 ? 'line' : 'lines'} of the NDJSON ${bad.length === 1 ? 'is not a JSON object' : 'are not JSON objects'}`, bad.slice(0, MAX_PROBLEMS).map((r) => ({ line: Number(r.line), reason: r.reason })));
    }
    await session.run(`CREATE OR REPLACE TEMP TABLE upload_rows AS SELECT * FROM read_json(${file}, format = 'newline_delimited')`);
    return;
  }
  try {
    await session.run(`CREATE OR REPLACE TEMP TABLE upload_rows AS SELECT * FROM read_parquet(${file})`);
  } catch (err) {
    throw new InvalidUploadError('the body is not a readable Parquet file', [{ line: null, reason: (err as Error).message.split('\n')[0] ?? 'unreadable' }]);
  }
}

export interface PublishedUpload {
  readonly lakeTable: string;
  readonly rows: number;
  readonly columns: readonly { name: string; type: string }[];
}

export async function publishUpload(
  session: LakeSession,
  input: { namespace: string; name: string; location: string; format: UploadFormat },
): Promise<PublishedUpload> {
  if (!IDENT.test(input.namespace) || !IDENT.test(input.name)) throw new InvalidUploadError(`bad dataset name ${input.namespace}.${input.name}`, []);
  try {
    await readTyped(session, input.location, input.format);
  } catch (err) {
    if (err instanceof InvalidUploadError) throw err;
    // DuckDB could not make a table of it at all (empty file, no header, binary garbage).
    throw new InvalidUploadError(`the ${input.format.toUpperCase()} body cannot be read as a table`, [{ line: null, reason: (err as Error).message.split('\n')[0] ?? 'unreadable' }]);
  }
  const described = await session.rows<{ column_name: string; column_type: string }>('DESCRIBE upload_rows');
  const names = normalizeColumnNames(described.map((c) => c.column_name));
  const select = described.map((c, i) => `${quoteIdent(c.column_name)} AS ${names[i]}`).join(', ');
  const [count] = await session.rows<{ n: string }>('SELECT count(*) AS n FROM upload_rows');
  if (Number(count?.n) === 0) throw new InvalidUploadError('the upload holds no rows', []);

  const target = `${LAKE}.${input.namespace}.${input.name}`;
  await session.run(`CREATE SCHEMA IF NOT EXISTS ${LAKE}.${input.namespace}`);
  const existing = (await lakeTableColumns(session, input.namespace, input.name)) ?? [];
  const newShape = await session.rows<{ column_name: string; column_type: string }>(`DESCRIBE SELECT ${select} FROM upload_rows`);
  const sameShape = existing.length === newShape.length && existing.every((c, i) => c.name === newShape[i]?.column_name && c.type === newShape[i]?.column_type);
  if (existing.length > 0 && !sameShape) await session.run(`DROP TABLE ${target}`);
  // Created empty first: on a local-disk warehouse DuckDB cannot write a new table's first
  // manifest in the commit that creates it (its metadata folder does not exist yet).
  if (!sameShape) await session.run(`CREATE TABLE ${target} AS SELECT ${select} FROM upload_rows LIMIT 0`);
  await inLakeTransaction(session, target, async () => {
    await session.run(`DELETE FROM ${target}`);
    await session.run(`INSERT INTO ${target} SELECT ${select} FROM upload_rows`);
    return {};
  });
  await session.run('DROP TABLE upload_rows');
  return { lakeTable: `${input.namespace}.${input.name}`, rows: Number(count?.n ?? 0), columns: newShape.map((c) => ({ name: c.column_name, type: c.column_type })) };
}

export async function dropUploadTable(session: LakeSession, input: { namespace: string; name: string }): Promise<void> {
  if (!IDENT.test(input.namespace) || !IDENT.test(input.name)) return;
  await session.run(`DROP TABLE IF EXISTS ${LAKE}.${input.namespace}.${input.name}`);
}
