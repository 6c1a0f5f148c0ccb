/**
 * The partition catalog on a real lake (local disk, then MinIO) and real Temporal runs: days of source A ingested by
 * the ingest workflow (FTP simulator → raw → curated), then three curated partitions deleted,
 * one raw day re-delivered with other bytes, and one run failed (its file is not on the
 * server). The catalog must name exactly those days missing, stale and failed, with their
 * reasons, and everything else published with its rows, files and bytes from the Iceberg
 * metadata; a second build reads no manifest again (the cache); `lake status` prints it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createApp } from '../api/app.ts';
import { RegionCache } from '../api/region-cache.ts';
import { lazyTemporal } from '../api/temporal.ts';
import { createPostgresPool } from '../lib/clients/postgres.ts';
import { buildCatalog, type Catalog, type DatasetStatus } from '../lib/catalog/build.ts';
import { renderDataset, renderSummary } from '../lib/catalog/render.ts';
import { planRepair, repairCatalogRequest, repairWorkflowId, type RepairItem } from '../lib/catalog/repair-plan.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { writeRawFile } from '../lib/lake/raw.ts';
import { openLakeSession } from '../lib/lake/session.ts';
import { createS3Client } from '../lib/clients/s3.ts';
import { createLakeStore } from '../lib/lake/store.ts';
import type { ObjectStore } from '../lib/storage/object-store.ts';
import { addDays, daysBetween } from '../lib/time/days.ts';
import { generateSourceFile, sourceFileName } from '../simulators/files/generate.ts';
import { ingestFileSource, ingestWorkflowId } from '../workflows/file-ingest.ts';
import { repairDataset, repairProgressQuery } from '../workflows/repair.ts';
import { describePlan } from '../cli/repair.ts';
import { evaluateFreshness } from '../workflows/freshness.ts';
import { FRESHNESS_VIOLATIONS, PARTITION_DAY, SOURCE, ZONE } from '../lib/temporal/search-attributes.ts';
import { loadContract } from './helpers/openapi-check.ts';
import { configForTestServer } from './helpers/temporal.ts';
import { ingest, startFileEnv, stopFileEnv, withSession, type FileEnv } from './helpers/file-env.ts';

const FIRST_INGEST = '2024-05-01';
const INGEST_DAYS = daysBetween(FIRST_INGEST, addDays(FIRST_INGEST, 12));
/** Curated day D comes from raw day D+3: the window where both zones have every day. */
const WINDOW = { from: addDays(FIRST_INGEST, 3), to: addDays(FIRST_INGEST, 9) };
/** Curated days 05-04, 05-05 and 05-08. */
const DELETED = [WINDOW.from, addDays(WINDOW.from, 1), addDays(WINDOW.from, 4)];
/** Raw 05-09 → curated 05-06 stale. */
const CHANGED_RAW_DAY = addDays(FIRST_INGEST, 8);
/** Raw 05-10 fails (no file on the server) → curated 05-07 never built. */
const FAILED_INGEST_DAY = addDays(FIRST_INGEST, 9);
const LATER = new Date('2030-01-01T00:00:00Z');

for (const storage of ['local', 's3'] as const) describe(`partition catalog (${storage} lake)`, () => {
  let env: FileEnv;
  let store: ObjectStore;
  const build = (datasets?: string[]): Promise<Catalog> =>
    buildCatalog(
      { config: env.config, store: store, openSession: () => openLakeSession(env.config), temporal: env.temporal.client },
      { ...WINDOW, ...(datasets ? { datasets } : {}), now: LATER },
    );
  const find = (c: Catalog, name: string): DatasetStatus => {
    const d = c.datasets.find((x) => x.name === name);
    assert.ok(d, `dataset ${name} in the catalog`);
    return d;
  };
  const states = (d: DatasetStatus): Record<string, string> => Object.fromEntries(d.partitions.map((p) => [p.day, p.state]));

  /** The freshness webhook: the first POST answered 503 (so it is retried), the others 200. */
  const webhook = { requests: [] as { key: string; body: Record<string, unknown>; status: number }[], server: http.createServer() };

  before(async () => {
    webhook.server.on('request', (req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        const status = webhook.requests.length === 0 ? 503 : 200;
        webhook.requests.push({ key: String(req.headers['idempotency-key']), body: JSON.parse(text) as Record<string, unknown>, status });
        res.writeHead(status).end();
      });
    });
    webhook.server.listen(0, '127.0.0.1');
    await once(webhook.server, 'listening');
    env = await startFileEnv({ storage, env: { FRESHNESS_WEBHOOK_URL: `http://127.0.0.1:${(webhook.server.address() as AddressInfo).port}/alerts` } });
    store = createLakeStore(env.config, createS3Client(env.config));
    for (const day of INGEST_DAYS) {
      if (day === FAILED_INGEST_DAY) continue;
      await generateSourceFile({ source: 'a', day, records: 60, malformedRate: 0.05, seed: day, out: path.join(env.filesDir, 'source_a', sourceFileName('a', day)) });
      await ingest(env, 'source_a', day);
    }
    await assert.rejects(
      env.temporal.withWorker((taskQueue) =>
        env.temporal.client.workflow.execute(ingestFileSource, { taskQueue, workflowId: ingestWorkflowId('source_a', FAILED_INGEST_DAY), args: [{ source: 'source_a', day: FAILED_INGEST_DAY, missingFile: 'fail' }] }),
      ),
      'the run of a day whose file is not on the server fails',
    );
    // Three curated days deleted behind the catalog's back, one raw day re-delivered with other bytes.
    await withSession(env.config, (s) => s.run(`DELETE FROM lake.curated.source_a WHERE day IN (${DELETED.map((d) => `DATE '${d}'`).join(', ')})`));
    const changed = path.join(env.lake.dir, 'changed.jsonl');
    await generateSourceFile({ source: 'a', day: CHANGED_RAW_DAY, records: 61, seed: 'changed', out: changed });
    await writeRawFile(store, {
      source: 'source_a',
      day: CHANGED_RAW_DAY,
      fileName: sourceFileName('a', CHANGED_RAW_DAY),
      content: { localPath: changed },
      origin: 'ftp://redelivery',
      fetchedAt: new Date().toISOString(),
    });
  });

  after(async () => {
    await stopFileEnv(env);
    webhook.server.close();
  });

  it('names exactly the deleted, changed and failed days, with reasons, and the rest published with metadata', async () => {
    const catalog = await build();
    const curated = find(catalog, 'curated.source_a');
    const expected: Record<string, string> = Object.fromEntries(daysBetween(WINDOW.from, WINDOW.to).map((d) => [d, 'published']));
    for (const d of DELETED) expected[d] = 'missing';
    expected[addDays(CHANGED_RAW_DAY, -3)] = 'stale';
    expected[addDays(FAILED_INGEST_DAY, -3)] = 'missing';
    assert.deepEqual(states(curated), expected);
    assert.deepEqual(curated.counts, { published: 2, stale: 1, failed: 0, running: 0, missing: 4 });

    const byDay = new Map(curated.partitions.map((p) => [p.day, p]));
    assert.match(byDay.get(DELETED[0] as string)?.reason ?? '', /holds none of its rows now/);
    assert.match(byDay.get(addDays(CHANGED_RAW_DAY, -3))?.reason ?? '', new RegExp(`raw.source_a day ${CHANGED_RAW_DAY} changed after it was built`));
    assert.match(byDay.get(addDays(FAILED_INGEST_DAY, -3))?.reason ?? '', /nothing published; due/);

    // Published days carry what the metadata says, checked against the table itself.
    const good = curated.partitions.find((p) => p.state === 'published');
    assert.ok(good);
    const [count] = await withSession(env.config, (s) => s.rows<{ n: string }>(`SELECT count(*) AS n FROM lake.curated.source_a WHERE day = DATE '${good.day}'`));
    assert.equal(good.rows, Number(count?.n));
    assert.ok((good.files ?? 0) >= 1 && (good.bytes ?? 0) > 0, `files and bytes: ${good.files}, ${good.bytes}`);
    assert.equal(good.inputs?.length, 1);
    assert.match(good.inputs?.[0]?.sha256 ?? '', /^[0-9a-f]{64}$/);
    assert.match(good.workflowId ?? '', /^curate:source_a:/);

    // The raw zone: every day landed but the failed run's, which says why.
    const raw = find(catalog, 'raw.source_a');
    assert.deepEqual(states(raw), { ...Object.fromEntries(daysBetween(WINDOW.from, WINDOW.to).map((d) => [d, 'published'])), [FAILED_INGEST_DAY]: 'failed' });
    const failed = raw.partitions.find((p) => p.day === FAILED_INGEST_DAY);
    assert.equal(failed?.workflowId, ingestWorkflowId('source_a', FAILED_INGEST_DAY));
    assert.match(failed?.reason ?? '', /activity_2024-05-10|no file|not found|missing/i, `the failure's own words: ${failed?.reason}`);
    assert.equal(raw.partitions.find((p) => p.day === CHANGED_RAW_DAY)?.files, 2, 'the first delivery and the changed one');
    // Freshness looks at the newest day due: curated 05-10 is there, raw 05-10 failed.
    assert.equal(curated.freshness.verdict, 'fresh');
    assert.equal(raw.freshness.verdict, 'late');
    assert.match(raw.freshness.detail, new RegExp(`day ${FAILED_INGEST_DAY} was due .* and is failed`));
  });

  it('reads each manifest once: a second build takes the table and the lineage from their summaries', async () => {
    const again = await build(['curated.source_a']);
    assert.equal(again.stats.manifestsRead, 0);
    assert.deepEqual(again.stats.sources, { summary: 2, changes: 0, full: 0 }, 'the table and the lineage from their summaries');
    assert.equal(find(again, 'curated.source_a').counts.missing, 4);
  });

  it('prints the summary and a calendar with the problems; `lake status --json` says the same', async (t) => {
    const catalog = await build();
    const summary = renderSummary(catalog, false);
    for (const line of summary.split('\n')) t.diagnostic(line);
    assert.match(summary, /curated\.source_a\s+\S+\s+4\s+0\s+1\s+0\s+fresh/);
    assert.match(summary, /raw\.source_a\s+\S+\s+0\s+1\s+0\s+0\s+LATE/);
    const calendar = renderDataset(find(catalog, 'curated.source_a'), false);
    for (const line of calendar.split('\n')) t.diagnostic(line);
    const month = calendar.split('\n').find((l) => l.startsWith(WINDOW.from.slice(0, 7)));
    // May 2024: days 1-3 before the window, then the 4th..10th.
    assert.equal(month?.slice(9, 9 + 10), '   MMSMMPP', calendar);
    assert.match(calendar, new RegExp(`${DELETED[0]}  missing`));

    const cli = spawnSync(process.execPath, ['bin/lake.js', 'status', 'curated.source_a', '--from', WINDOW.from, '--to', WINDOW.to, '--json'], {
      cwd: path.resolve(import.meta.dirname, '..'),
      encoding: 'utf8',
      env: {
        ...process.env,
        TEMPOLAKE_DATA_DIR: env.config.dataDir,
        LAKE_STORAGE: env.config.lakeStorage,
        LAKE_LOCAL_ROOT: env.config.lakeLocalRoot,
        LAKE_S3_PREFIX: env.config.lakeS3Prefix,
        ICEBERG_CATALOG_URL: env.config.icebergCatalogUrl.toString(),
        TEMPORAL_ADDRESS: env.temporal.env.address,
      },
    });
    assert.equal(cli.status, 3, `exit 3 when something needs repair: ${cli.stderr}`);
    const printed = JSON.parse(cli.stdout) as Catalog;
    const fromCli = find(printed, 'curated.source_a');
    // Due times are real ones here: every day of 2024 is long due.
    assert.deepEqual(states(fromCli), states(find(catalog, 'curated.source_a')));
  });

  /** Each day's live data files and a checksum of its rows: what "untouched" means. */
  const fingerprint = async (day: string): Promise<{ files: string[]; rows: number; checksum: string }> =>
    withSession(env.config, async (s) => {
      const files = await s.rows<{ f: string }>(
        `SELECT file_path AS f FROM iceberg_metadata(lake.curated.source_a) WHERE status <> 'DELETED' AND manifest_content = 'DATA' AND file_path LIKE '%day=${day}/%' ORDER BY 1`,
      );
      const [sum] = await s.rows<{ n: string; h: string }>(`SELECT count(*) AS n, CAST(coalesce(sum(hash(event_id, amount, event_time)), 0) AS VARCHAR) AS h FROM lake.curated.source_a WHERE day = DATE '${day}'`);
      return { files: files.map((r) => r.f), rows: Number(sum?.n), checksum: String(sum?.h) };
    });
  const plan = async (name: string): Promise<RepairItem[]> => {
    const catalog = await buildCatalog(
      { config: env.config, store: store, openSession: () => openLakeSession(env.config), temporal: env.temporal.client },
      repairCatalogRequest(env.config, name, WINDOW),
    );
    return planRepair(env.config, catalog, name, WINDOW, ['missing', 'stale', 'failed']);
  };
  const repair = (items: RepairItem[], concurrency = 2) =>
    env.temporal.withWorker(() =>
      env.temporal.client.workflow.execute(repairDataset, {
        taskQueue: TASK_QUEUES.ingest,
        workflowId: repairWorkflowId('curated.source_a', WINDOW.from, WINDOW.to, ['failed', 'missing', 'stale']),
        args: [{ dataset: 'curated.source_a', items, concurrency }],
      }),
    );

  it('backfill --missing --stale --failed plans exactly the broken days, upstream first, and repairs only them', async (t) => {
    const items = await plan('curated.source_a');
    for (const line of describePlan(items)) t.diagnostic(line);
    assert.deepEqual(
      items.map((i) => `${i.action} ${i.day}`),
      // The failed raw day is fetched first; the others' raw days are there: curated again from them.
      [`ingest ${FAILED_INGEST_DAY}`, ...[DELETED[0], DELETED[1], addDays(CHANGED_RAW_DAY, -3), DELETED[2]].map((d) => `curate ${addDays(d as string, 3)}`)],
    );
    const untouched = daysBetween(WINDOW.from, WINDOW.to).filter((d) => !items.some((i) => i.repairs.some((r) => r.day === d)));
    assert.deepEqual(untouched, [addDays(WINDOW.from, 5), WINDOW.to]);
    const before = await Promise.all(untouched.map(fingerprint));

    // The operator put the missing file on the server; the repair runs.
    await generateSourceFile({ source: 'a', day: FAILED_INGEST_DAY, records: 60, seed: FAILED_INGEST_DAY, out: path.join(env.filesDir, 'source_a', sourceFileName('a', FAILED_INGEST_DAY)) });
    const state = await repair(items);
    assert.deepEqual(state.outcomes.map((o) => o.outcome), items.map(() => 'repaired'));

    const after = await build(['curated.source_a', 'raw.source_a']);
    assert.deepEqual(Object.values(states(find(after, 'curated.source_a'))), daysBetween(WINDOW.from, WINDOW.to).map(() => 'published'));
    assert.deepEqual(Object.values(states(find(after, 'raw.source_a'))), daysBetween(WINDOW.from, WINDOW.to).map(() => 'published'));
    assert.deepEqual(await Promise.all(untouched.map(fingerprint)), before, 'the days that were fine keep their data files and rows');
    // The stale day was curated from the changed delivery.
    const stale = find(after, 'curated.source_a').partitions.find((p) => p.day === addDays(CHANGED_RAW_DAY, -3));
    assert.ok(stale?.inputs?.some((i) => i.key.includes('.') && /activity_2024-05-09\.[0-9a-f]{12}\.jsonl$/.test(i.key)), JSON.stringify(stale?.inputs));

    // Planned again: nothing left, so starting the same backfill again runs nothing twice.
    assert.deepEqual(await plan('curated.source_a'), []);
  });

  it('a cancelled backfill leaves every day either as it was or repaired, never mixed', async () => {
    const days = [WINDOW.from, addDays(WINDOW.from, 1), addDays(WINDOW.from, 2), addDays(WINDOW.from, 3)];
    const full = await Promise.all(days.map(fingerprint));
    await withSession(env.config, (s) => s.run(`DELETE FROM lake.curated.source_a WHERE day IN (${days.map((d) => `DATE '${d}'`).join(', ')})`));
    const items = await plan('curated.source_a');
    assert.equal(items.length, days.length);
    const workflowId = `${repairWorkflowId('curated.source_a', WINDOW.from, WINDOW.to, ['failed', 'missing', 'stale'])}:cancel`;
    const outcome = env.temporal.withWorker(async () => {
      const handle = await env.temporal.client.workflow.start(repairDataset, { taskQueue: TASK_QUEUES.ingest, workflowId, args: [{ dataset: 'curated.source_a', items, concurrency: 1 }] });
      // Cancel once the first day's run is under way.
      for (let i = 0; i < 200; i++) {
        const p = await handle.query(repairProgressQuery);
        if (p.running.length > 0 || p.repaired > 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await handle.cancel();
      return handle.result().then(
        () => 'completed',
        (err: Error) => err.name,
      );
    });
    assert.equal(await outcome, 'WorkflowFailedError', 'the repair ends cancelled');
    const described = await env.temporal.client.workflow.getHandle(workflowId).describe();
    assert.equal(described.status.name, 'CANCELLED');
    const now = await Promise.all(days.map(fingerprint));
    let repaired = 0;
    for (const [i, day] of days.entries()) {
      const n = now[i];
      if (n?.rows === 0) continue; // as it was (deleted)
      repaired++;
      assert.equal(n?.rows, full[i]?.rows, `${day}: all of its rows or none`);
      assert.equal(n?.checksum, full[i]?.checksum, `${day}: the same rows`);
    }
    assert.ok(repaired < days.length, `the cancel came before every day was repaired (${repaired} were)`);
  });

  it('serves the catalog on the admin API: the admin key only, documented in the OpenAPI document', async () => {
    const adminKey = 'admin-key-for-the-catalog-test';
    const config = { ...env.config, apiAdminKey: adminKey };
    const pool = createPostgresPool(config);
    const temporal = lazyTemporal(configForTestServer(config, env.temporal));
    const { app, openapi, close } = createApp({
      config,
      pool,
      temporal,
      regions: new RegionCache(pool),
      catalog: async (req) => buildCatalog({ config, store, openSession: () => openLakeSession(config), temporal: await temporal.client() }, { ...req, now: LATER }),
      log: () => undefined,
    });
    const server = http.createServer(app).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const contract = await loadContract(openapi);
      const get = async (p: string, headers: Record<string, string> = { 'X-Admin-Key': adminKey }) => {
        const res = await fetch(`${base}${p}`, { headers });
        const body = Buffer.from(await res.arrayBuffer());
        return contract.check({ method: 'GET', path: p, status: res.status, headers: Object.fromEntries(res.headers), body }) as Record<string, unknown>;
      };
      const list = (await get(`/v1/admin/datasets?from=${WINDOW.from}&to=${WINDOW.to}`)) as { datasets: { name: string; counts: Record<string, number> }[] };
      // The same answer as the catalog built here (the cancelled repair above may have left days missing).
      assert.deepEqual(list.datasets.find((d) => d.name === 'curated.source_a')?.counts, find(await build(['curated.source_a']), 'curated.source_a').counts);
      const days = (await get(`/v1/admin/datasets/raw.source_a/partitions?from=${WINDOW.from}&to=${WINDOW.to}`)) as { partitions: { day: string; state: string; inputs?: unknown[] }[] };
      assert.equal(days.partitions.length, 7);
      assert.ok(days.partitions.every((p) => p.state === 'published' && (p.inputs?.length ?? 0) >= 1));
      assert.equal(((await get('/v1/admin/datasets/raw.nothing/partitions')) as { status: number }).status, 404);
      assert.equal(((await get('/v1/admin/datasets', {})) as { status: number }).status, 401);
      assert.equal(((await get('/v1/admin/datasets', { 'X-Admin-Key': 'a-wrong-admin-key-1234' })) as { status: number }).status, 401);
      // A customer's API key is not the admin key.
      assert.equal(((await get('/v1/admin/datasets', { Authorization: `Bearer ${adminKey}` })) as { status: number }).status, 401);
      assert.ok(JSON.stringify(openapi).includes('"adminKey"'));
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      close();
      await temporal.close();
      await pool.end();
    }
  });

  it('a freshness violation is shown on the evaluating run and reaches the webhook once', async () => {
    const late = addDays(WINDOW.from, 5);
    await withSession(env.config, (s) => s.run(`DELETE FROM lake.curated.source_a WHERE day = DATE '${late}'`));
    // An hour after the day was due (D+3 09:00): it is the newest due day of curated.source_a.
    const input = { now: `${addDays(late, 3)}T10:00:00.000Z`, datasets: ['raw.source_a', 'curated.source_a'] };
    const evaluate = (n: number) =>
      env.temporal.withWorker(async () => {
        const handle = await env.temporal.client.workflow.start(evaluateFreshness, { taskQueue: TASK_QUEUES.process, workflowId: `freshness:test:${n}`, args: [input] });
        return { outcome: await handle.result(), described: await handle.describe() };
      });
    const first = await evaluate(1);
    assert.deepEqual(first.outcome.violations.map((v) => `${v.dataset}:${v.day}:${v.state}`), [`curated.source_a:${late}:missing`]);
    assert.deepEqual(first.outcome.alerted, [`freshness-alert:curated.source_a:${late}`]);
    assert.deepEqual(first.described.typedSearchAttributes.get(FRESHNESS_VIOLATIONS), [`curated.source_a:${late}`]);
    // The alert retries the webhook's 503 on its own; wait for its delivery.
    await env.temporal.withWorker(() => env.temporal.client.workflow.getHandle(`freshness-alert:curated.source_a:${late}`).result());
    const second = await evaluate(2);
    assert.deepEqual(second.outcome.alerted, [], 'the same violation is not alerted again');
    assert.deepEqual(webhook.requests.map((r) => r.status), [503, 200], 'delivered once, after one retry');
    assert.deepEqual([...new Set(webhook.requests.map((r) => r.key))], [`freshness-alert:curated.source_a:${late}`], 'one idempotency key for both attempts');
    assert.equal(webhook.requests[1]?.body['dataset'], 'curated.source_a');
    assert.equal(webhook.requests[1]?.body['day'], late);
    assert.match(String(webhook.requests[1]?.body['expectation']), /D\+3 09:00 UTC/);
  });

  it('a day a workflow holds is running, with the run named; once the run is cancelled the day is as it was', async () => {
    // Raw 05-06 is published (every raw day is, after the repair above); the curated zone is left alone.
    const day = addDays(WINDOW.from, 2);
    const workflowId = `${ingestWorkflowId('source_a', day)}:held`;
    const before = find(await build(['raw.source_a']), 'raw.source_a');
    assert.equal(states(before)[day], 'published');
    const visible = async (status: string): Promise<boolean> =>
      (await env.temporal.client.workflow.count(`WorkflowId = '${workflowId}' AND ExecutionStatus = '${status}' AND PartitionDay IS NOT NULL`)).count === 1;
    // Visibility is eventually consistent: poll, at most 10 s.
    const until = async (what: string, check: () => Promise<boolean>): Promise<void> => {
      for (const deadline = Date.now() + 10_000; !(await check()); await new Promise((r) => setTimeout(r, 100))) {
        if (Date.now() > deadline) assert.fail(`${what} within 10 s`);
      }
    };

    // No worker polls the ingest queue between tests: the run stays Running, its search attributes
    // given at start (the workflow upserts them itself only once a worker runs it).
    const handle = await env.temporal.client.workflow.start(ingestFileSource, {
      taskQueue: TASK_QUEUES.ingest,
      workflowId,
      args: [{ source: 'source_a', day }],
      typedSearchAttributes: [
        { key: SOURCE, value: 'source_a' },
        { key: ZONE, value: 'raw' },
        { key: PARTITION_DAY, value: day },
      ],
    });
    try {
      await until(`${workflowId} listed as Running`, () => visible('Running'));
      const held = find(await build(['raw.source_a']), 'raw.source_a');
      const p = held.partitions.find((x) => x.day === day);
      assert.equal(p?.state, 'running');
      assert.equal(p?.workflowId, workflowId);
      assert.equal(p?.runId, handle.firstExecutionRunId);
      assert.match(p?.reason ?? '', new RegExp(`^${workflowId} is running since \\d{4}-\\d\\d-\\d\\dT`));
      assert.deepEqual(held.counts, { ...before.counts, published: before.counts.published - 1, running: 1 });
      assert.deepEqual(states(held), { ...states(before), [day]: 'running' }, 'no other day changes');
      const untouched = await handle.fetchHistory();
      assert.ok(!untouched.events?.some((e) => e.workflowTaskStartedEventAttributes), 'no worker ran the held run');

      // Cancelled before its first workflow task: a worker ends it Cancelled without scheduling anything.
      await handle.cancel();
      const outcome = await env.temporal.withWorker(() => handle.result().then(() => 'completed', (err: Error) => err.name));
      assert.equal(outcome, 'WorkflowFailedError');
      assert.equal((await handle.describe()).status.name, 'CANCELLED');
      const history = await handle.fetchHistory();
      assert.ok(!history.events?.some((e) => e.activityTaskScheduledEventAttributes), 'the cancelled run fetched nothing');
      await until(`${workflowId} listed as Canceled`, () => visible('Canceled'));
      const after = find(await build(['raw.source_a']), 'raw.source_a');
      assert.deepEqual(states(after), states(before));
      assert.deepEqual(after.counts, before.counts);
      assert.deepEqual(after.partitions.find((x) => x.day === day), before.partitions.find((x) => x.day === day), 'the day as it was: no run named on it');
    } finally {
      // A failed assertion must not leave the day held.
      if ((await handle.describe()).status.name === 'RUNNING') await handle.terminate('catalog test cleanup');
    }
  });
});
