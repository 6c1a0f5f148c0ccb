/**
 * `dataset_join`: the customer's uploaded dataset joined with source A (events) or B (the
 * latest attributes of each customer) on a column pair the customer names, grouped by a
 * column of the dataset, with aggregates from a fixed menu. The dataset's column names are
 * checked against its actual columns before they reach SQL (and quoted); the source's come
 * from a fixed list. Keys are compared as text, so a numeric id in the upload matches.
 */
import { LAKE, sqlString, type LakeSession } from '../lake/session.ts';
import { CURATED_SOURCE_A, CURATED_SOURCE_B, qualified } from '../lake/tables.ts';
import type { AnalysisRequest } from './requests.ts';

type DatasetJoin = Extract<AnalysisRequest, { type: 'dataset_join' }>;

const AGGREGATE_SQL: Record<DatasetJoin['aggregates'][number], string> = {
  rows: 'count(s.customer_id) AS rows',
  customers: 'count(DISTINCT s.customer_id) AS customers',
  amount_sum: 'sum(s.amount) AS amount_sum',
  amount_avg: 'avg(s.amount) AS amount_avg',
};

/**
 * Columns of a lake table, or undefined when there is none. DESCRIBE, not duckdb_columns():
 * a fresh session lists an Iceberg table it has not loaded yet with a placeholder column.
 */
export async function lakeTableColumns(session: LakeSession, namespace: string, name: string): Promise<{ name: string; type: string }[] | undefined> {
  const [found] = await session.rows<{ n: string }>(
    'SELECT count(*) AS n FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = ?',
    [LAKE, namespace, name],
  );
  if (Number(found?.n) === 0) return undefined;
  const cols = await session.rows<{ column_name: string; column_type: string }>(`DESCRIBE ${LAKE}.${namespace}.${name}`);
  return cols.map((c) => ({ name: c.column_name, type: c.column_type }));
}

/** The columns of the customer's dataset, or undefined when there is no such dataset. */
export async function datasetColumns(session: LakeSession, namespace: string, dataset: string): Promise<string[] | undefined> {
  return (await lakeTableColumns(session, namespace, dataset))?.map((c) => c.name);
}

export function datasetJoinSql(r: DatasetJoin, namespace: string): string {
  const group = r.group_by ?? r.dataset_key;
  const source =
    r.source === 'source_a'
      ? `(SELECT * FROM ${qualified(CURATED_SOURCE_A)} WHERE true${r.from ? ` AND "day" >= DATE ${sqlString(r.from)}` : ''}${r.to ? ` AND "day" <= DATE ${sqlString(r.to)}` : ''})`
      : `(SELECT * FROM ${qualified(CURATED_SOURCE_B)} QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY updated_at DESC NULLS LAST, "day" DESC) = 1)`;
  return `SELECT CAST(z."${group}" AS VARCHAR) AS "${group}", ${r.aggregates.map((a) => AGGREGATE_SQL[a]).join(', ')}
    FROM ${LAKE}.${namespace}.${r.dataset} z
    LEFT JOIN ${source} s ON CAST(s."${r.source_key}" AS VARCHAR) = CAST(z."${r.dataset_key}" AS VARCHAR)
    GROUP BY 1`;
}
