/**
 * Against a real Amazon Redshift, when one is configured (REDSHIFT_CLUSTER_ID or
 * REDSHIFT_WORKGROUP, plus REDSHIFT_IAM_ROLE and AWS credentials in the environment; see
 * notes/redshift-readme.md): ensureSchema, a full and a ranged load from the lake's Glue
 * tables, a retry of the same load, and the load's record read back. Skipped otherwise.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { DescribeStatementCommand, ExecuteStatementCommand, GetStatementResultCommand, RedshiftDataClient } from '@aws-sdk/client-redshift-data';
import { loadConfig } from '../lib/config.ts';
import { createRedshiftWarehouse, redshiftTarget } from '../lib/warehouse/redshift/data-api-warehouse.ts';
import { loadRecordSql } from '../lib/warehouse/redshift/sql.ts';
import { WH_REGIONS, WH_WEATHER_DAILY } from '../lib/warehouse/tables.ts';

const live = Boolean(process.env['REDSHIFT_CLUSTER_ID'] || process.env['REDSHIFT_WORKGROUP']);
const skip = live ? false : 'no Redshift configured: set REDSHIFT_CLUSTER_ID or REDSHIFT_WORKGROUP (with REDSHIFT_IAM_ROLE and AWS credentials) to run';

/** One query through the Data API, outside the warehouse, to check what the load left. */
async function queryRow(client: RedshiftDataClient, target: ReturnType<typeof redshiftTarget>, sql: string): Promise<unknown[] | undefined> {
  const { Id } = await client.send(new ExecuteStatementCommand({ ...target, Sql: sql }));
  for (;;) {
    const d = await client.send(new DescribeStatementCommand({ Id }));
    if (d.Status === 'FINISHED') break;
    if (d.Status === 'FAILED' || d.Status === 'ABORTED') throw new Error(`${sql}: ${d.Error}`);
    await sleep(500);
  }
  const r = await client.send(new GetStatementResultCommand({ Id }));
  return r.Records?.[0]?.map((f) => Object.values(f)[0]);
}

test('real Redshift: ensureSchema, loads from the lake through Glue, idempotent retry', { skip, timeout: 30 * 60_000 }, async () => {
  const config = loadConfig();
  const wh = createRedshiftWarehouse(config);
  const progress: string[] = [];
  try {
    await wh.ensureSchema();
    await wh.ensureSchema(); // idempotent

    const regions = await wh.load({ table: WH_REGIONS, loadId: `live:${randomUUID()}:regions`, onProgress: (d) => progress.push(d) });
    assert.equal(regions.table, 'regions');
    assert.ok(regions.rows >= 0 && regions.replaced >= 0);

    const today = new Date();
    const weekAgo = new Date(today.getTime() - 7 * 86_400_000);
    const range = { from: weekAgo.toISOString().slice(0, 10), to: today.toISOString().slice(0, 10) };
    const loadId = `live:${randomUUID()}:weather_daily`;
    const first = await wh.load({ table: WH_WEATHER_DAILY, range, loadId, onProgress: (d) => progress.push(d) });
    const retry = await wh.load({ table: WH_WEATHER_DAILY, range, loadId });
    assert.deepEqual([retry.rows, retry.replaced], [first.rows, first.replaced], 'the retry re-attached to the same statement');

    const client = new RedshiftDataClient({ region: config.redshiftRegion, ...(config.redshiftDataEndpoint ? { endpoint: config.redshiftDataEndpoint } : {}) });
    try {
      const recorded = await queryRow(client, redshiftTarget(config), loadRecordSql(loadId));
      assert.deepEqual(recorded?.map(Number), [first.rows, first.replaced]);
    } finally {
      client.destroy();
    }
    console.log(`live Redshift: regions ${regions.rows} rows, weather_daily ${range.from}..${range.to} ${first.rows} rows (${first.ms} ms); ${progress.length} progress reports`);
  } finally {
    await wh.close();
  }
});
