// Probe: DuckDB v1.5.5 (@duckdb/node-api 1.5.5-r.5) reading and writing Iceberg through the
// local Iceberg REST catalog (tempolake.CatalogServer). Run it from a scratch folder that has
// @duckdb/node-api@1.5.5-r.5 installed (not from the repo), with the catalog server running:
//   ICEBERG_REST=http://127.0.0.1:18181 ICEBERG_WAREHOUSE=file:///tmp/icerest/warehouse \
//   DUCKDB_EXT_DIR=$HOME/.cache/tempolake/duckdb-ext/extensions/v1.5.5/linux_amd64 node probe-duckdb.mjs
// Exits non-zero on the first failed expectation. See RECIPE.md.
import { DuckDBInstance } from '@duckdb/node-api';
import assert from 'node:assert/strict';

const REST = process.env.ICEBERG_REST ?? 'http://127.0.0.1:18181';
const WAREHOUSE = process.env.ICEBERG_WAREHOUSE ?? 'file:///tmp/icerest/warehouse';
const EXT = process.env.DUCKDB_EXT_DIR
  ?? `${process.env.HOME}/.cache/tempolake/duckdb-ext/extensions/v1.5.5/linux_amd64`;
const TABLE = 'ice.curated.probe_daily';

async function open() {
  // Nothing may be downloaded at run time: switch auto-install off, load every extension by path.
  const inst = await DuckDBInstance.create(':memory:', {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  });
  const con = await inst.connect();
  const q = async (sql) => (await con.runAndReadAll(sql)).getRowObjectsJson();
  // avro BEFORE iceberg (iceberg's init otherwise tries to install avro);
  // httpfs BEFORE ATTACH (the REST client needs it, even for a file:// warehouse).
  for (const name of ['avro', 'iceberg', 'httpfs']) await q(`LOAD '${EXT}/${name}.duckdb_extension'`);
  // S3/MinIO warehouse only (not needed for file://):
  if (process.env.S3_ENDPOINT) {
    await q(`CREATE OR REPLACE SECRET s3lake (TYPE s3, KEY_ID '${process.env.S3_KEY_ID}',
      SECRET '${process.env.S3_SECRET}', ENDPOINT '${process.env.S3_ENDPOINT}',
      URL_STYLE 'path', USE_SSL false, REGION 'us-east-1')`);
  }
  await q(`ATTACH '${WAREHOUSE}' AS ice (TYPE iceberg, ENDPOINT '${REST}',
    AUTHORIZATION_TYPE 'none', ACCESS_DELEGATION_MODE 'none', READ_ONLY false)`);
  return { inst, con, q };
}

async function restTable(ns, name) {
  const r = await fetch(`${REST}/v1/namespaces/${ns}/tables/${name}`);
  assert.equal(r.status, 200);
  return (await r.json()).metadata;
}

const t0 = performance.now();
const ms = (t) => `${(performance.now() - t).toFixed(0)} ms`;
const cfg = await fetch(`${REST}/v1/config`);
assert.equal(cfg.status, 200, 'catalog not ready');

const { q } = await open();
console.log('loaded extensions + attached in', ms(t0));

await q('CREATE SCHEMA IF NOT EXISTS ice.curated');
await q(`DROP TABLE IF EXISTS ${TABLE}`);
await q('DROP TABLE IF EXISTS ice.curated.probe_commits');
// "day" is a keyword: quote it. PARTITIONED BY accepts a column (identity) or a transform
// (day(ts), month(ts), year(ts), hour(ts), bucket(n, c), truncate(n, c)).
await q(`CREATE TABLE ${TABLE} (ts TIMESTAMP, value DOUBLE, region VARCHAR, "day" DATE)
         PARTITIONED BY ("day")`);
await q(`CREATE TABLE ice.curated.probe_commits (table_name VARCHAR, "day" DATE,
         workflow_id VARCHAR, inputs VARCHAR, committed_at TIMESTAMP)`);
const spec = (await restTable('curated', 'probe_daily'))['partition-specs'];
console.log('partition spec:', JSON.stringify(spec));
assert.equal(spec.at(-1).fields[0].transform, 'identity');

let t = performance.now();
await q(`INSERT INTO ${TABLE}
         SELECT TIMESTAMP '2021-10-01' + INTERVAL (i) HOUR, i * 1.5, 'r' || (i % 3),
                CAST(TIMESTAMP '2021-10-01' + INTERVAL (i) HOUR AS DATE)
         FROM range(48) t(i)`);
console.log('insert 2 days in', ms(t));
const [before] = await q(`SELECT snapshot_id FROM iceberg_snapshots(${TABLE})`);

// Publish day 2021-10-02 atomically: delete + insert (+ lineage row in another table,
// + table properties) in one transaction = one catalog commit.
const logBefore = (await restTable('curated', 'probe_daily'))['metadata-log'].length;
t = performance.now();
await q('BEGIN');
await q(`DELETE FROM ${TABLE} WHERE "day" = DATE '2021-10-02'`);
await q(`INSERT INTO ${TABLE}
         SELECT TIMESTAMP '2021-10-02' + INTERVAL (i) HOUR, 100 + i, 'new', DATE '2021-10-02'
         FROM range(5) t(i)`);
await q(`INSERT INTO ice.curated.probe_commits VALUES ('curated.probe_daily', DATE '2021-10-02',
         'ingest:probe:2021-10-02', '{"sha256":"abc"}', now()::TIMESTAMP)`);
await q(`CALL set_iceberg_table_properties(${TABLE},
         {'tempolake.workflow-id': 'ingest:probe:2021-10-02'})`);
await q('COMMIT');
console.log('atomic replace committed in', ms(t));
const logAfter = (await restTable('curated', 'probe_daily'))['metadata-log'].length;
assert.equal(logAfter - logBefore, 1, 'replace must be exactly one new metadata version');

const days = await q(`SELECT "day", count(*) AS n, sum(value) AS s FROM ${TABLE} GROUP BY 1 ORDER BY 1`);
console.log('current:', JSON.stringify(days));
assert.deepEqual(days.map((r) => [r.day, r.n]), [['2021-10-01', '24'], ['2021-10-02', '5']]);

const snaps = await q(`SELECT snapshot_id, sequence_number, timestamp_ms, operation
                       FROM iceberg_snapshots(${TABLE}) ORDER BY sequence_number`);
console.log('snapshots:', JSON.stringify(snaps));
// One commit, but TWO snapshots: a 'delete' then an 'append' (no 'overwrite').
assert.deepEqual(snaps.map((s) => s.operation), ['append', 'delete', 'append']);
const summary = (await restTable('curated', 'probe_daily')).snapshots.map((s) => s.summary);
console.log('summaries (DuckDB writes operation + metrics only):', JSON.stringify(summary.at(-1)));

// Time travel: AT (VERSION => snapshot_id), AT (TIMESTAMP => ts), iceberg_scan(snapshot_from_id).
const old = await q(`SELECT count(*) AS n FROM ${TABLE} AT (VERSION => ${before.snapshot_id})`);
assert.equal(old[0].n, '48');
const mid = await q(`SELECT count(*) AS n FROM ${TABLE} AT (VERSION => ${snaps[1].snapshot_id})`);
console.log('intermediate (delete-only) snapshot is visible to time travel: rows =', mid[0].n);
const byTs = await q(`SELECT count(*) AS n FROM ${TABLE}
                      AT (TIMESTAMP => TIMESTAMP '${snaps[0].timestamp_ms}')`);
assert.equal(byTs[0].n, '48');
const byScan = await q(`SELECT count(*) AS n FROM iceberg_scan(${TABLE}, snapshot_from_id => ${before.snapshot_id})`);
assert.equal(byScan[0].n, '48');
console.log('time travel OK (AT VERSION, AT TIMESTAMP, iceberg_scan snapshot_from_id)');

const lineage = await q('SELECT * FROM ice.curated.probe_commits');
const props = await q(`SELECT * FROM iceberg_table_properties(${TABLE}) WHERE key LIKE 'tempolake.%'`);
console.log('lineage row:', JSON.stringify(lineage), 'props:', JSON.stringify(props));

const maint = await q(`SELECT function_name FROM duckdb_functions()
  WHERE function_name ILIKE '%expire%' OR function_name ILIKE '%orphan%' OR function_name ILIKE '%rewrite%'`);
console.log('expire/orphan/rewrite functions in DuckDB:', JSON.stringify(maint));

// A concurrent writer that lost the race: two DuckDB instances replace the same day.
const a = await open();
const b = await open();
await a.q('BEGIN');
await b.q('BEGIN');
await a.q(`DELETE FROM ${TABLE} WHERE "day" = DATE '2021-10-01'`);
await b.q(`DELETE FROM ${TABLE} WHERE "day" = DATE '2021-10-01'`);
await a.q(`INSERT INTO ${TABLE} VALUES (TIMESTAMP '2021-10-01 01:00', 1, 'a', DATE '2021-10-01')`);
await b.q(`INSERT INTO ${TABLE} VALUES (TIMESTAMP '2021-10-01 02:00', 2, 'b', DATE '2021-10-01')`);
await a.q('COMMIT');
const lost = await b.q('COMMIT').then(() => 'committed (!)', (e) => e.message.split('\n')[0]);
console.log('second writer:', lost);
const after = await q(`SELECT region, count(*) AS n FROM ${TABLE} WHERE "day" = DATE '2021-10-01' GROUP BY 1`);
console.log('day 2021-10-01 after race:', JSON.stringify(after));
console.log('probe OK in', ms(t0));
