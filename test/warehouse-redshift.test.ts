/**
 * The Redshift warehouse without a Redshift: every statement it can send is parsed and
 * linted by sqlfluff's redshift dialect, and the Data API conversation (one batch per load,
 * idempotent retries, limits, failures, polling) runs against a fake of the Data API at
 * the HTTP boundary, driven by the real AWS SDK client.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BatchExecuteStatementCommand, ExecuteStatementCommand } from '@aws-sdk/client-redshift-data';
import { loadConfig, type Config } from '../lib/config.ts';
import { ensureSqlfluff, lintRedshiftSql, type SqlViolation } from '../lib/infra/sqlfluff.ts';
import { createRedshiftWarehouse, loadClientToken, redshiftTarget } from '../lib/warehouse/redshift/data-api-warehouse.ts';
import {
  checkBatch,
  createRoleSql,
  dropTableSql,
  ensureSchemaBatch,
  externalColumnsSql,
  externalSchemasSql,
  loadBatch,
  loadRecordSql,
  MAX_STATEMENT_BYTES,
  personalExternalSchemaSql,
  replaceTableBatch,
  roleExistsSql,
  spectrumExamples,
  sqlDate,
  sqlString,
  tableExistsSql,
} from '../lib/warehouse/redshift/sql.ts';
import { WAREHOUSE_TABLES, WH_MARKET_DAILY, WH_REGIONS, WH_WEATHER_DAILY, type WarehouseTable } from '../lib/warehouse/tables.ts';
import { WarehouseError, type LoadRequest } from '../lib/warehouse/warehouse.ts';
import { FakeRedshiftDataApi, FAKE_MAX_STATEMENT_BYTES } from './helpers/fake-redshift-data-api.ts';

const IAM_ROLE = 'arn:aws:iam::123456789012:role/tempolake-spectrum';
const WEEK = { from: '2021-10-01', to: '2021-10-07' };

function redshiftConfig(extra: Record<string, string> = {}): Config {
  return loadConfig({
    WAREHOUSE: 'redshift',
    REDSHIFT_CLUSTER_ID: 'tempolake-test',
    REDSHIFT_DB_USER: 'loader',
    REDSHIFT_DATABASE: 'analytics',
    REDSHIFT_IAM_ROLE: IAM_ROLE,
    REDSHIFT_GLUE_DATABASE_PREFIX: 'tempolake_',
    ...extra,
  });
}

const CUSTOMER_TABLE = {
  source: { namespace: 'personal_acme', name: 'analysis_a1' },
  schema: 'customer_acme',
  table: 'analysis_a1',
  readerRole: 'tempolake_c_acme',
  loadId: 'analysis:acme:a1:load',
} as const;
const RESULT_COLUMNS = ['region_id', 'bucket', 'bucket_start', 'temperature_avg'];

const show = (v: readonly SqlViolation[]): string => v.map((x) => `${x.statement} L${x.line}:${x.column} ${x.code} ${x.description}`).join('\n');

describe('generated Redshift SQL passes sqlfluff --dialect redshift', () => {
  let sqlfluff: string;
  before(async () => {
    sqlfluff = await ensureSqlfluff(loadConfig());
  });

  test('external schemas, schema, Spectrum examples and a ranged and a full load of every table', async () => {
    const statements: { name: string; sql: string }[] = [];
    const add = (name: string, sqls: readonly string[]): void => sqls.forEach((sql, i) => statements.push({ name: `${name}#${i + 1}`, sql }));
    add('external_schemas', externalSchemasSql({ iamRole: IAM_ROLE, glueDatabasePrefix: 'tempolake_' }));
    add('ensure_schema', ensureSchemaBatch());
    for (const q of spectrumExamples()) add(`spectrum_${q.name}`, [q.sql]);
    add('load_record', [loadRecordSql("workflow:it's\\odd")]);
    for (const t of WAREHOUSE_TABLES) {
      add(`load_${t.name}_ranged`, loadBatch({ table: t, range: WEEK, loadId: `lint:${t.name}:ranged` }).sqls);
      add(`load_${t.name}_full`, loadBatch({ table: t, loadId: `lint:${t.name}:full` }).sqls);
    }
    // Customer tables (analysis results, uploads): first load and replacement.
    add('personal_schema', [personalExternalSchemaSql({ iamRole: IAM_ROLE, glueDatabasePrefix: 'tempolake_' }, 'personal_acme')]);
    add('customer_role', [roleExistsSql('tempolake_c_acme'), createRoleSql('tempolake_c_acme'), tableExistsSql('customer_acme', 'analysis_a1'), externalColumnsSql('personal_acme', 'analysis_a1')]);
    for (const exists of [false, true]) {
      add(`replace_table_${exists}`, replaceTableBatch({ ...CUSTOMER_TABLE, columns: RESULT_COLUMNS, exists }).sqls);
    }
    add('drop_customer_table', [dropTableSql('customer_acme', 'analysis_a1')]);
    assert.ok(statements.length > 70, `only ${statements.length} statements`);
    const violations = await lintRedshiftSql(sqlfluff, statements);
    assert.equal(violations.length, 0, `sqlfluff violations:\n${show(violations)}`);
  });

  test('the lint really parses: a broken statement and a misformatted one are reported', async () => {
    const violations = await lintRedshiftSql(sqlfluff, [
      { name: 'broken', sql: 'SELEC region_id FROM serving.regions' },
      { name: 'sloppy', sql: 'select a,b from serving.regions where a=1' },
    ]);
    assert.ok(violations.some((v) => v.statement === 'broken' && v.code === 'PRS'), show(violations));
    assert.ok(violations.some((v) => v.statement === 'sloppy' && v.code === 'LT01'), show(violations));
  });
});

describe('Redshift SQL generation', () => {
  const forbidden = /\b(BEGIN|COMMIT|END|ROLLBACK|TRUNCATE|COPY)\b/i;

  test('a ranged load replaces exactly its days, reading the Iceberg table through the external schema', () => {
    const b = loadBatch({ table: WH_WEATHER_DAILY, range: WEEK, loadId: 'wf-1:weather_daily' });
    const scope = "WHERE day BETWEEN DATE '2021-10-01' AND DATE '2021-10-07'";
    assert.equal(b.sqls[0], 'CREATE TEMP TABLE stage_weather_daily (LIKE serving.weather_daily)');
    assert.match(b.sqls[1] as string, /^INSERT INTO stage_weather_daily \(/);
    assert.ok((b.sqls[1] as string).endsWith(`FROM lake_operational.weather_daily\n${scope}`));
    assert.equal(b.sqls[b.deleteIndex], `DELETE FROM serving.weather_daily\n${scope}`);
    assert.match(b.sqls[b.insertIndex] as string, /^INSERT INTO serving\.weather_daily \([\s\S]*\)\nSELECT[\s\S]*FROM stage_weather_daily$/);
    assert.match(b.sqls.find((s) => s.startsWith('INSERT INTO tempolake_meta.loads')) as string, /DATE '2021-10-01' AS scope_from,\n {4}DATE '2021-10-07' AS scope_to/);
    assert.equal(
      b.sqls[b.keyCheckIndex],
      "SELECT\n    CAST(\n        'duplicate key ' || CAST(COUNT(*) AS VARCHAR) AS INTEGER\n    ) AS duplicate_key\n" +
        'FROM stage_weather_daily\nGROUP BY region_id, day\nHAVING COUNT(*) > 1',
    );
    assert.deepEqual(b.range, WEEK);
    for (const s of b.sqls) assert.doesNotMatch(s, forbidden, s);
  });

  test('a full load, and a ranged request on a table without a range column, replace the whole table', () => {
    const full = loadBatch({ table: WH_MARKET_DAILY, loadId: 'full' });
    assert.equal(full.sqls[full.deleteIndex], 'DELETE FROM serving.market_daily');
    assert.ok((full.sqls[1] as string).endsWith('FROM lake_operational.market_daily'));
    const regions = loadBatch({ table: WH_REGIONS, range: WEEK, loadId: 'regions' });
    assert.equal(regions.sqls[regions.deleteIndex], 'DELETE FROM serving.regions');
    assert.equal(regions.range, undefined);
    assert.match(regions.sqls.join('\n'), /NULL AS scope_from,\n {4}NULL AS scope_to/);
  });

  test('every column is copied by name, in the table order', () => {
    for (const t of WAREHOUSE_TABLES) {
      const cols = t.columns.map((c) => `    ${c.name}`).join(',\n');
      const b = loadBatch({ table: t, loadId: 'cols' });
      assert.ok((b.sqls[1] as string).includes(`(\n${cols}\n)\nSELECT\n${cols}\nFROM lake_operational.${t.source.name}`), t.name);
      assert.ok((b.sqls[b.insertIndex] as string).includes(`(\n${cols}\n)\nSELECT\n${cols}\nFROM stage_${t.name}`), t.name);
    }
  });

  test('values are validated and escaped as Redshift literals', () => {
    assert.equal(sqlString("it's"), "'it''s'");
    assert.equal(sqlString('a\\b'), "'a\\\\b'");
    assert.throws(() => sqlString('a\u0000b'), WarehouseError);
    assert.equal(sqlDate('2024-02-29'), "DATE '2024-02-29'");
    for (const bad of ['2023-02-29', '2021-1-01', "2021-01-01' OR '1'='1", '']) assert.throws(() => sqlDate(bad), WarehouseError, bad);
    assert.throws(() => loadBatch({ table: WH_WEATHER_DAILY, range: { from: '2021-10-08', to: '2021-10-01' }, loadId: 'x' }), /empty day range/);
    assert.throws(() => loadBatch({ table: WH_WEATHER_DAILY, loadId: 'x'.repeat(1025) }), /load id/);
    const b = loadBatch({ table: WH_WEATHER_DAILY, loadId: "o'neil\\run" });
    assert.ok(b.sqls.some((s) => s.includes("WHERE load_id = 'o''neil\\\\run'")));
  });

  test('the Data API limits are enforced at generation, in UTF-8 bytes', () => {
    assert.throws(() => checkBatch(Array.from({ length: 41 }, () => 'SELECT 1')), /41 statements exceeds the Data API's 40/);
    assert.doesNotThrow(() => checkBatch(Array.from({ length: 40 }, () => 'SELECT 1')));
    // 50,009 characters but 100,009 bytes: the limit counts bytes.
    const wide = `SELECT '${'é'.repeat(50_000)}'`;
    assert.ok(wide.length <= MAX_STATEMENT_BYTES);
    assert.throws(() => checkBatch([wide]), /over the Data API's 100000-byte limit/);
    assert.ok(MAX_STATEMENT_BYTES <= FAKE_MAX_STATEMENT_BYTES);
  });
});

/** A table whose load statements are far over 100 KB (thousands of long column names). */
const HUGE_TABLE: WarehouseTable = {
  ...WH_WEATHER_DAILY,
  name: 'huge',
  columns: Array.from({ length: 2500 }, (_, i) => ({ name: `column_${i}_${'x'.repeat(30)}`, type: 'double' as const })),
};

describe('Redshift warehouse against a fake Data API', () => {
  let fake: FakeRedshiftDataApi;
  before(async () => {
    fake = await FakeRedshiftDataApi.start();
  });
  after(async () => {
    await fake.close();
  });

  const reset = (): void => {
    fake.requests.length = 0;
    fake.executed.length = 0;
    fake.failWhen = () => undefined;
    fake.rowsFor = () => undefined;
    fake.resultFor = () => undefined;
    fake.pendingPhases = ['SUBMITTED', 'STARTED'];
    fake.clockOffsetMs = 0;
    fake.loseResponses = 0;
  };

  const open = (extra: Record<string, string> = {}, opts: { pollMs?: number; maxWaitMs?: number } = {}) =>
    createRedshiftWarehouse(redshiftConfig(extra), { client: fake.client(), pollMs: 5, ...opts });

  const weekLoad = (loadId: string, progress: string[] = []): LoadRequest => ({
    table: WH_WEATHER_DAILY,
    range: WEEK,
    loadId,
    onProgress: (d) => progress.push(d),
  });

  test('ensureSchema: the external schemas one by one, then the schema batch, on the configured cluster', async () => {
    reset();
    const wh = open();
    await wh.ensureSchema();
    await wh.close();
    assert.equal(wh.dialect, 'redshift');
    const runs = fake.executed;
    assert.deepEqual(
      runs.map((e) => e.operation),
      ['ExecuteStatement', 'ExecuteStatement', 'BatchExecuteStatement'],
    );
    assert.equal(
      runs[0]?.sqls[0],
      `CREATE EXTERNAL SCHEMA IF NOT EXISTS lake_operational\nFROM DATA CATALOG\nDATABASE 'tempolake_operational'\nIAM_ROLE '${IAM_ROLE}'`,
    );
    assert.match(runs[1]?.sqls[0] as string, /lake_curated[\s\S]*DATABASE 'tempolake_curated'/);
    assert.deepEqual(runs[2]?.sqls, ensureSchemaBatch());
    for (const r of runs) assert.deepEqual(r.target, { ClusterIdentifier: 'tempolake-test', DbUser: 'loader', Database: 'analytics' });
  });

  test('a load is one batch with a token derived from the load id; counts come from its sub-statements; progress while polling', async () => {
    reset();
    fake.rowsFor = (sql) => (sql.startsWith('INSERT INTO serving.weather_daily') ? 70 : sql.startsWith('DELETE FROM serving.weather_daily') ? 63 : undefined);
    const wh = open();
    const progress: string[] = [];
    const r = await wh.load(weekLoad('wf-1:weather_daily', progress));
    assert.equal(r.table, 'weather_daily');
    assert.equal(r.rows, 70);
    assert.equal(r.replaced, 63);
    assert.ok(r.ms >= 0);
    assert.equal(fake.batches.length, 1);
    const [batch] = fake.batches;
    assert.deepEqual(batch?.sqls, loadBatch({ table: WH_WEATHER_DAILY, range: WEEK, loadId: 'wf-1:weather_daily' }).sqls);
    assert.equal(batch?.clientToken, loadClientToken('wf-1:weather_daily'));
    assert.match(batch?.clientToken as string, /^[0-9a-f]{64}$/);
    assert.equal(fake.calls('ExecuteStatement').length, 0, 'no follow-up query when ResultRows are there');
    assert.ok(fake.calls('DescribeStatement').length >= 3, 'polled through SUBMITTED and STARTED');
    assert.deepEqual(progress.map((p) => p.split(' after ')[0]), ['redshift load weather_daily: SUBMITTED', 'redshift load weather_daily: STARTED']);
    assert.ok(progress.every((p) => p.includes(batch?.id as string)));
    await wh.close();
  });

  test('a retried load re-attaches to the statement already sent: same token, nothing runs twice', async () => {
    reset();
    fake.rowsFor = (sql) => (sql.startsWith('INSERT INTO serving.') ? 7 : undefined);
    const wh = open();
    const first = await wh.load(weekLoad('wf-2:weather_daily'));
    const again = await wh.load(weekLoad('wf-2:weather_daily'));
    assert.equal(fake.batches.length, 1);
    const tokens = fake.calls('BatchExecuteStatement').map((b) => b['ClientToken']);
    assert.deepEqual(tokens, [loadClientToken('wf-2:weather_daily'), loadClientToken('wf-2:weather_daily')]);
    assert.equal(again.rows, first.rows);
    // Another load id is another load.
    await wh.load(weekLoad('wf-3:weather_daily'));
    assert.equal(fake.batches.length, 2);
    assert.notEqual(fake.batches[1]?.clientToken, fake.batches[0]?.clientToken);
    await wh.close();
  });

  test('a lost response is retried by the SDK with the same ClientToken, and the batch runs once', async () => {
    reset();
    fake.loseResponses = 1;
    const wh = open();
    await wh.load(weekLoad('wf-4:weather_daily'));
    const sent = fake.calls('BatchExecuteStatement');
    assert.equal(sent.length, 2, 'the SDK sent the request again');
    assert.equal(sent[0]?.['ClientToken'], sent[1]?.['ClientToken']);
    assert.equal(fake.batches.length, 1);
    await wh.close();
  });

  test("a failed statement surfaces Redshift's error text and where it failed", async () => {
    reset();
    fake.failWhen = (sql) => (sql.includes('FROM lake_operational.weather_daily') ? 'ERROR: relation "lake_operational.weather_daily" does not exist' : undefined);
    const wh = open();
    await assert.rejects(wh.load(weekLoad('wf-5:weather_daily')), (err: Error) => {
      assert.ok(err instanceof WarehouseError);
      assert.match(err.message, /Redshift load weather_daily FAILED at statement 2 of 8 \(INSERT INTO stage_weather_daily \(\)/);
      assert.match(err.message, /ERROR: relation "lake_operational.weather_daily" does not exist/);
      return true;
    });
    await wh.close();
  });

  test('staged rows repeating a key fail the load before anything is replaced, and say so', async () => {
    reset();
    fake.failWhen = (sql) => (sql.includes("'duplicate key '") ? "ERROR: Invalid digit, Value 'd', Pos 0, Type: Integer" : undefined);
    const wh = open();
    await assert.rejects(wh.load(weekLoad('wf-dup:weather_daily')), (err: Error) => {
      assert.ok(err instanceof WarehouseError);
      assert.match(err.message, /at statement 3 of 8 .*lake_operational\.weather_daily has more than one row per \(region_id, day\); nothing loaded \(Redshift: ERROR: Invalid digit/);
      return true;
    });
    await wh.close();
  });

  test('after a failure, a prompt retry reports it again; a later one sends the load anew under the next token', async () => {
    reset();
    const loadId = 'wf-6:weather_daily';
    fake.failWhen = (sql) => (sql.startsWith('DELETE FROM serving.') ? 'ERROR: 1023 Serializable isolation violation on table serving.weather_daily' : undefined);
    const wh = open();
    fake.clockOffsetMs = -120_000; // this attempt's statement looks two minutes old to the next one
    await assert.rejects(wh.load(weekLoad(loadId)), /Serializable isolation violation/);
    const failedId = fake.batches[0]?.id as string;
    fake.failWhen = () => undefined;
    fake.clockOffsetMs = 0;
    const progress: string[] = [];
    const r = await wh.load(weekLoad(loadId, progress));
    assert.equal(r.table, 'weather_daily');
    assert.equal(fake.batches.length, 2);
    assert.equal(fake.batches[1]?.clientToken, loadClientToken(loadId, [failedId]));
    assert.ok(progress[0]?.includes(`earlier attempt ${failedId} FAILED, sending again`), progress[0]);

    // A failure younger than the skew margin is not walked past: no new run.
    fake.failWhen = (sql) => (sql.startsWith('DELETE FROM serving.') ? 'ERROR: boom' : undefined);
    await assert.rejects(wh.load(weekLoad('wf-7:weather_daily')), /boom/);
    fake.failWhen = () => undefined;
    await assert.rejects(wh.load(weekLoad('wf-7:weather_daily')), /boom/);
    assert.equal(fake.batches.length, 3);
    await wh.close();
  });

  test('an over-long statement is refused before anything is sent', async () => {
    reset();
    const wh = open();
    await assert.rejects(wh.load({ table: HUGE_TABLE, loadId: 'huge' }), /over the Data API's 100000-byte limit/);
    assert.equal(fake.requests.length, 0);
    await wh.close();
  });

  test('the fake answers over-limit requests as AWS does', async () => {
    reset();
    const client = fake.client();
    const target = { ClusterIdentifier: 'c', Database: 'd' };
    await assert.rejects(client.send(new BatchExecuteStatementCommand({ ...target, Sqls: Array.from({ length: 41 }, () => 'SELECT 1') })), (err: Error) => {
      assert.equal(err.name, 'ValidationException');
      assert.match(err.message, /length between 1 and 40/);
      return true;
    });
    await assert.rejects(client.send(new ExecuteStatementCommand({ ...target, Sql: `SELECT '${'x'.repeat(FAKE_MAX_STATEMENT_BYTES)}'` })), (err: Error) => {
      assert.equal(err.name, 'ValidationException');
      assert.match(err.message, /larger than 100kB/);
      return true;
    });
    assert.equal(fake.executed.length, 0);
    client.destroy();
  });

  test('without sub-statement counts, the load reads back what it recorded', async () => {
    reset();
    fake.rowsFor = () => -1;
    fake.resultFor = (sql) => (sql.includes('FROM tempolake_meta.loads') ? { columns: ['rows', 'replaced'], rows: [[12, 3]] } : undefined);
    const wh = open();
    const r = await wh.load(weekLoad('wf-8:weather_daily'));
    assert.deepEqual([r.rows, r.replaced], [12, 3]);
    const [query] = fake.calls('ExecuteStatement');
    assert.equal(query?.['Sql'], loadRecordSql('wf-8:weather_daily'));
    assert.equal(fake.calls('GetStatementResult').length, 1);
    await wh.close();
  });

  test('a customer table: external schema over its namespace, role made once, one batch that drops, creates, grants and records', async () => {
    reset();
    const roles = new Set<string>();
    const tables = new Set<string>();
    fake.resultFor = (sql) => {
      if (sql.includes('FROM svv_external_columns')) return { columns: ['columnname'], rows: RESULT_COLUMNS.map((c) => [c]) };
      if (sql.includes('FROM svv_roles')) return { columns: ['found'], rows: [[roles.has('tempolake_c_acme') ? 1 : 0]] };
      if (sql.includes('FROM svv_tables')) return { columns: ['found'], rows: [[tables.has('customer_acme.analysis_a1') ? 1 : 0]] };
      if (sql.includes('FROM tempolake_meta.loads')) return { columns: ['rows', 'replaced'], rows: [[5479, tables.has('customer_acme.analysis_a1') ? 5479 : 0]] };
      return undefined;
    };
    const wh = open();
    const progress: string[] = [];
    const first = await wh.replaceTable({ ...CUSTOMER_TABLE, onProgress: (d) => progress.push(d) });
    assert.deepEqual([first.table, first.rows, first.replaced], ['customer_acme.analysis_a1', 5479, 0]);
    const statements = fake.executed.map((e) => (e.operation === 'BatchExecuteStatement' ? 'batch' : e.sqls[0]?.split('\n')[0]));
    assert.deepEqual(statements, [
      'CREATE EXTERNAL SCHEMA IF NOT EXISTS lake_personal_acme',
      'SELECT columnname',
      'SELECT COUNT(*) AS role_count',
      'CREATE ROLE tempolake_c_acme',
      'SELECT COUNT(*) AS table_count',
      'batch',
      'SELECT',
    ]);
    assert.match(fake.executed[0]?.sqls[0] as string, /DATABASE 'tempolake_personal_acme'/);
    const batch = fake.batches[0];
    assert.deepEqual(batch?.sqls, replaceTableBatch({ ...CUSTOMER_TABLE, columns: RESULT_COLUMNS, exists: false }).sqls);
    assert.equal(batch?.clientToken, loadClientToken(CUSTOMER_TABLE.loadId));
    assert.ok(batch?.sqls.includes(`CREATE TABLE customer_acme.analysis_a1 AS\nSELECT\n${RESULT_COLUMNS.map((c) => `    ${c}`).join(',\n')}\nFROM lake_personal_acme.analysis_a1`));
    assert.ok(batch?.sqls.includes('GRANT SELECT ON customer_acme.analysis_a1 TO ROLE tempolake_c_acme'));
    assert.ok(!batch?.sqls.some((q) => /TRUNCATE|BEGIN|COMMIT/.test(q)), 'the batch is the transaction: no TRUNCATE, BEGIN or COMMIT inside');
    assert.ok(progress.some((p) => p.includes('STARTED')));

    // Next time the role and the table are there: no CREATE ROLE, the old rows are counted as replaced.
    roles.add('tempolake_c_acme');
    tables.add('customer_acme.analysis_a1');
    fake.executed.length = 0;
    const second = await wh.replaceTable({ ...CUSTOMER_TABLE, loadId: 'analysis:acme:a1:load:again' });
    assert.deepEqual([second.rows, second.replaced], [5479, 5479]);
    assert.ok(!fake.executed.some((e) => e.sqls[0]?.startsWith('CREATE ROLE')));
    assert.deepEqual(fake.batches[0]?.sqls, replaceTableBatch({ ...CUSTOMER_TABLE, columns: RESULT_COLUMNS, loadId: 'analysis:acme:a1:load:again', exists: true }).sqls);

    // The same load id again re-attaches to the batch already sent: nothing runs twice.
    fake.executed.length = 0;
    await wh.replaceTable({ ...CUSTOMER_TABLE, loadId: 'analysis:acme:a1:load:again' });
    assert.equal(fake.batches.length, 0);

    await wh.dropTable('customer_acme', 'analysis_a1');
    assert.equal(fake.executed.at(-1)?.sqls[0], 'DROP TABLE IF EXISTS customer_acme.analysis_a1');
    await wh.close();
  });

  test('a role created meanwhile by another worker is not an error; a failed create-as-select surfaces Redshift\'s text', async () => {
    reset();
    fake.resultFor = (sql) =>
      sql.includes('FROM svv_external_columns') ? { columns: ['columnname'], rows: [['region_id']] } : sql.includes('FROM svv_') ? { columns: ['n'], rows: [[0]] } : undefined;
    fake.failWhen = (sql) =>
      sql.startsWith('CREATE ROLE')
        ? 'ERROR: role "tempolake_c_acme" already exists'
        : sql.startsWith('CREATE TABLE customer_acme')
          ? 'ERROR: Spectrum Scan Error: table analysis_a1 not found in Glue database tempolake_personal_acme'
          : undefined;
    const wh = open();
    await assert.rejects(wh.replaceTable({ ...CUSTOMER_TABLE, loadId: 'analysis:acme:a1:load:ctas-fails' }), (err: Error) => {
      assert.ok(err instanceof WarehouseError);
      assert.match(err.message, /FAILED at statement 4 of \d+ \(CREATE TABLE customer_acme\.analysis_a1 AS\): ERROR: Spectrum Scan Error/);
      return true;
    });
    assert.ok(fake.executed.some((e) => e.sqls[0]?.startsWith('CREATE ROLE')), 'the role creation was tried and its race ignored');
    await wh.close();
  });

  test('a result table Glue does not list fails clearly, before any batch', async () => {
    reset();
    fake.resultFor = (sql) => (sql.includes('FROM svv_external_columns') ? { columns: ['columnname'], rows: [] } : undefined);
    const wh = open();
    await assert.rejects(wh.replaceTable({ ...CUSTOMER_TABLE, loadId: 'analysis:acme:a1:load:no-glue' }), /personal_acme\.analysis_a1 is not in the Glue Data Catalog/);
    assert.equal(fake.batches.length, 0);
    await wh.close();
  });

  test('bad customer names are refused before anything is sent', async () => {
    reset();
    const wh = open();
    await assert.rejects(wh.replaceTable({ ...CUSTOMER_TABLE, table: 'x; DROP TABLE serving.regions' }), WarehouseError);
    await assert.rejects(wh.dropTable('customer_acme', 'Robert"); --'), WarehouseError);
    assert.equal(fake.batches.length, 0);
    assert.ok(!fake.executed.some((e) => e.sqls[0]?.includes('Robert')));
    await wh.close();
  });

  test('a statement outliving maxWaitMs is left running; the retry re-attaches and finishes', async () => {
    reset();
    fake.pendingPhases = Array.from({ length: 40 }, () => 'STARTED');
    const wh = open({}, { pollMs: 1, maxWaitMs: 15 });
    await assert.rejects(wh.load(weekLoad('wf-9:weather_daily')), /still STARTED after .* re-attaches/);
    const patient = open({}, { pollMs: 1, maxWaitMs: 10_000 });
    await patient.load(weekLoad('wf-9:weather_daily'));
    assert.equal(fake.batches.length, 1);
    assert.equal(fake.calls('CancelStatement').length, 0);
    await wh.close();
    await patient.close();
  });

  test('Serverless: WorkgroupName and a Secrets Manager secret are sent instead of cluster and user', async () => {
    reset();
    const secret = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:tempolake-AbCdEf';
    const wh = open({ REDSHIFT_CLUSTER_ID: '', REDSHIFT_DB_USER: '', REDSHIFT_WORKGROUP: 'tempolake-wg', REDSHIFT_SECRET_ARN: secret });
    await wh.load(weekLoad('wf-10:weather_daily'));
    assert.deepEqual(fake.batches[0]?.target, { WorkgroupName: 'tempolake-wg', SecretArn: secret, Database: 'analytics' });
    await wh.close();
  });

  test('without a client of its own, the warehouse uses REDSHIFT_DATA_ENDPOINT', async () => {
    reset();
    const saved = { id: process.env['AWS_ACCESS_KEY_ID'], secret: process.env['AWS_SECRET_ACCESS_KEY'] };
    process.env['AWS_ACCESS_KEY_ID'] = 'AKIDFAKE';
    process.env['AWS_SECRET_ACCESS_KEY'] = 'fake-secret';
    try {
      const wh = createRedshiftWarehouse(redshiftConfig({ REDSHIFT_DATA_ENDPOINT: fake.url }), { pollMs: 5 });
      await wh.load(weekLoad('wf-11:weather_daily'));
      await wh.close();
      assert.equal(fake.batches.length, 1);
    } finally {
      for (const [k, v] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});

describe('Redshift settings are validated up front', () => {
  const refuses = (extra: Record<string, string>, message: RegExp): void => {
    assert.throws(() => createRedshiftWarehouse(redshiftConfig(extra)), (err: Error) => err instanceof WarehouseError && message.test(err.message));
  };

  test('cluster or workgroup, one credential kind, a role ARN and a sane Glue prefix', () => {
    refuses({ REDSHIFT_CLUSTER_ID: '' }, /REDSHIFT_CLUSTER_ID .* or REDSHIFT_WORKGROUP/);
    refuses({ REDSHIFT_WORKGROUP: 'wg' }, /only one of REDSHIFT_CLUSTER_ID and REDSHIFT_WORKGROUP/);
    refuses({ REDSHIFT_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:1:secret:x' }, /only one of REDSHIFT_DB_USER .* and REDSHIFT_SECRET_ARN/);
    refuses({ REDSHIFT_CLUSTER_ID: '', REDSHIFT_WORKGROUP: 'wg' }, /REDSHIFT_DB_USER applies to provisioned clusters only/);
    refuses({ REDSHIFT_IAM_ROLE: '' }, /REDSHIFT_IAM_ROLE must be an IAM role ARN/);
    refuses({ REDSHIFT_IAM_ROLE: "arn:aws:iam::123456789012:role/x' --" }, /REDSHIFT_IAM_ROLE/);
    refuses({ REDSHIFT_GLUE_DATABASE_PREFIX: "Lake'" }, /REDSHIFT_GLUE_DATABASE_PREFIX/);
    // IAM identity without a database user or secret is a valid provisioned setup.
    assert.deepEqual(redshiftTarget(redshiftConfig({ REDSHIFT_DB_USER: '' })), { ClusterIdentifier: 'tempolake-test', Database: 'analytics' });
  });
});
