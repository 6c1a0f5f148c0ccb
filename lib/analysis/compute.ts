/**
 * Runs an analysis into the customer's personal Iceberg namespace: the table is created
 * (empty, with the result's columns) once, then its rows are replaced in one commit, so a
 * retried activity gives the same table and readers never see half a result.
 */
import { inLakeTransaction } from '../lake/publish.ts';
import { LAKE, type LakeSession } from '../lake/session.ts';
import { CURATED_SOURCE_A, CURATED_SOURCE_B, ensureTables, qualified } from '../lake/tables.ts';
import { OPERATIONAL_MARKET_DAILY } from '../market/tables.ts';
import { OPERATIONAL_REGIONS, OPERATIONAL_WEATHER_DAILY } from '../weather/tables.ts';
import { regionTrendSql } from './region-trend.ts';
import { weatherImpactSql } from './weather-impact.ts';
import { datasetColumns, datasetJoinSql } from './dataset-join.ts';
import type { AnalysisRequest } from './requests.ts';

/** A request that parses but cannot run (an unknown region): the same every time, never retried. */
export class InvalidAnalysisError extends Error {
  override name = 'InvalidAnalysis';
}

export const personalNamespace = (customerId: string): string => `personal_${customerId}`;

const IDENT = /^[a-z0-9_]{1,63}$/;

function resultSql(request: AnalysisRequest, customerId: string): string {
  switch (request.type) {
    case 'region_trend':
      return regionTrendSql(request);
    case 'weather_impact':
      return weatherImpactSql(request);
    case 'dataset_join':
      return datasetJoinSql(request, personalNamespace(customerId));
  }
}

async function checkRequest(session: LakeSession, request: AnalysisRequest, customerId: string): Promise<void> {
  if (request.type === 'dataset_join') {
    const columns = await datasetColumns(session, personalNamespace(customerId), request.dataset);
    if (!columns) throw new InvalidAnalysisError(`you have no dataset "${request.dataset}": GET /v1/datasets lists them`);
    for (const [field, column] of [['dataset_key', request.dataset_key], ['group_by', request.group_by]] as const) {
      if (column !== undefined && !columns.includes(column)) throw new InvalidAnalysisError(`${field}: dataset "${request.dataset}" has no column "${column}" (it has ${columns.join(', ')})`);
    }
  }
  if ('region_id' in request && request.region_id !== undefined) {
    const [known] = await session.rows<{ n: string }>(`SELECT count(*) AS n FROM ${qualified(OPERATIONAL_REGIONS)} WHERE region_id = ?`, [request.region_id]);
    if (Number(known?.n) === 0) throw new InvalidAnalysisError(`unknown region "${request.region_id}": GET /v1/regions lists them`);
  }
}

export async function computeAnalysis(session: LakeSession, input: { customerId: string; table: string; request: AnalysisRequest }): Promise<{ lakeTable: string; rows: number }> {
  const namespace = personalNamespace(input.customerId);
  if (!IDENT.test(namespace) || !IDENT.test(input.table)) throw new InvalidAnalysisError(`bad result name ${namespace}.${input.table}`);
  await ensureTables(session, [OPERATIONAL_REGIONS, OPERATIONAL_WEATHER_DAILY, OPERATIONAL_MARKET_DAILY, CURATED_SOURCE_A, CURATED_SOURCE_B]);
  await checkRequest(session, input.request, input.customerId);
  const target = `${LAKE}.${namespace}.${input.table}`;
  const sql = resultSql(input.request, input.customerId);
  await session.run(`CREATE SCHEMA IF NOT EXISTS ${LAKE}.${namespace}`);
  await session.run(`CREATE TABLE IF NOT EXISTS ${target} AS SELECT * FROM (${sql}) LIMIT 0`);
  const { rows } = await inLakeTransaction(session, target, async () => {
    await session.run(`DELETE FROM ${target}`);
    const [inserted] = await session.rows<{ Count: string }>(`INSERT INTO ${target} ${sql}`);
    return { rows: Number(inserted?.Count ?? 0) };
  });
  return { lakeTable: `${namespace}.${input.table}`, rows };
}

/** Removes the result from the lake (cancelled analyses); a missing table is not an error. */
export async function dropAnalysisTable(session: LakeSession, input: { customerId: string; table: string }): Promise<void> {
  const namespace = personalNamespace(input.customerId);
  if (!IDENT.test(namespace) || !IDENT.test(input.table)) return;
  await session.run(`DROP TABLE IF EXISTS ${LAKE}.${namespace}.${input.table}`);
}

