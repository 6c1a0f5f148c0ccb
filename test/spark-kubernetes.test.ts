/**
 * Spark on Kubernetes through a real API server (etcd + kube-apiserver, `lake infra up
 * kubernetes`): the SparkApplication CRD installed, and the spark-operator's part played by
 * test/helpers/spark-operator.ts, which runs each job with the local spark-submit. So the
 * project's creates, reads, watches and deletes are real API traffic, validated by the API
 * server, and the jobs are real Spark on the real lake.
 *
 * An hour of source D compacted through ENGINE=spark-k8s publishes what DuckDB publishes; a
 * retried activity adopts the application it already made; a job failing on its input fails
 * the run non-retryably naming the cause; a missing Secret is an infrastructure failure; a
 * cancelled run deletes its application and commits nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowFailedError } from '@temporalio/client';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { apiErrorCode, createKubeConfig } from '../lib/clients/kubernetes.ts';
import { loadConfig, type Config } from '../lib/config.ts';
import { createS3Client } from '../lib/clients/s3.ts';
import { openLakeSession, type LakeSession } from '../lib/lake/session.ts';
import { createLakeStore } from '../lib/lake/store.ts';
import { kubeconfigPath } from '../lib/infra/services/kubernetes.ts';
import { ANNOTATIONS, renderSparkApplication, sparkApplicationName, SPARK_GROUP, SPARK_PLURAL, SPARK_VERSION, type SparkApplication } from '../lib/spark/application.ts';
import { runSparkApplication, SparkApplicationFailedError } from '../lib/spark/kubernetes-runner.ts';
import { runSparkTransform } from '../lib/spark/run-transform.ts';
import type { ObjectStore } from '../lib/storage/object-store.ts';
import { ENGINE } from '../lib/temporal/search-attributes.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { compactMarket } from '../workflows/market.ts';
import { withSession } from './helpers/file-env.ts';
import { startTestLake, type TestLake } from './helpers/lake.ts';
import { startFakeSparkOperator, type FakeSparkOperator } from './helpers/spark-operator.ts';
import { startTemporalTestServer, type TemporalTestServer } from './helpers/temporal.ts';

const DAY = '2024-05-06';

/**
 * Raw files of one hour as the market consumer writes them: 30 events over two Kafka
 * partitions, one of them twice (a producer retry), one misfiled from the hour before.
 */
async function writeMarketHour(store: ObjectStore, hour: number, opts: { corrupt?: boolean } = {}): Promise<void> {
  const hh = String(hour).padStart(2, '0');
  const start = Date.parse(`${DAY}T${hh}:00:00Z`);
  const line = (partition: number, offset: number, event: Record<string, unknown>): string =>
    JSON.stringify({ partition, offset: String(offset), timestamp: String(Date.parse(String(event['ts']))), key: event['region'], event });
  const events = Array.from({ length: 30 }, (_, i) => ({
    event_id: `e-${hh}-${i}`,
    seq: hour * 100 + i,
    region: ['r01', 'r02', 'r03'][i % 3],
    instrument: ['GOLD', 'OIL'][i % 2],
    price: 100 + i / 8,
    volume: i % 5 === 0 ? 0 : i * 1.25,
    ts: new Date(start + i * 119_000).toISOString(),
    attributes: i % 4 === 0 ? { venue: 'LME' } : { venue: 'CME', side: i % 2 ? 'buy' : 'sell', tags: ['a'] },
  }));
  const p0 = events.slice(0, 15).map((e, i) => line(0, 10 + i, e));
  const p1 = [...events.slice(15).map((e, i) => line(1, 20 + i, e)), line(1, 40, events[3] as Record<string, unknown>)];
  const stray = line(1, 41, { ...(events[0] as Record<string, unknown>), event_id: `e-${hh}-stray`, ts: new Date(start - 1).toISOString() });
  const prefix = `raw/source_d/day=${DAY}/hour=${hh}/`;
  await store.put(`${prefix}market.events+0+000000000010.jsonl`, [...p0, ...(opts.corrupt ? ['{"partition": 0, "offset": "99", "event": {not json'] : [])].join('\n') + '\n');
  await store.put(`${prefix}market.events+1+000000000020.jsonl`, [...p1, stray].join('\n') + '\n');
}

/** Curated rows of an hour as sorted JSON text: compared as sets, every column and type included. */
async function hourRows(s: LakeSession, hour: number): Promise<string[]> {
  const rows = await s.rows<Record<string, unknown>>(`SELECT * FROM lake.curated.market_events WHERE "day" = DATE '${DAY}' AND "hour" = ${hour}`);
  return rows.map((r) => JSON.stringify(r)).sort();
}

/** Snapshots of a table, as the catalog lists them (any commit adds one; none when there is no table yet). */
async function snapshotCount(config: Config, namespace: string, table: string): Promise<number> {
  const res = await fetch(new URL(`v1/namespaces/${namespace}/tables/${table}`, `${config.icebergCatalogUrl.toString().replace(/\/$/, '')}/`));
  if (res.status === 404) return 0;
  assert.equal(res.status, 200);
  return ((await res.json()) as { metadata: { snapshots?: unknown[] } }).metadata.snapshots?.length ?? 0;
}

describe('Spark on Kubernetes (real API server, the operator played by the harness)', () => {
  let lake: TestLake;
  let store: ObjectStore;
  let duckConfig: Config;
  let k8sConfig: Config;
  let duckTemporal: TemporalTestServer;
  let k8sTemporal: TemporalTestServer;
  let kc: KubeConfig;
  let operator: FakeSparkOperator;

  const readApp = async (name: string): Promise<SparkApplication | undefined> => {
    try {
      return (await kc
        .makeApiClient(CustomObjectsApi)
        .getNamespacedCustomObject({ group: SPARK_GROUP, version: SPARK_VERSION, namespace: k8sConfig.sparkNamespace, plural: SPARK_PLURAL, name })) as SparkApplication;
    } catch (err) {
      if (apiErrorCode(err) === 404) return undefined;
      throw err;
    }
  };
  const hourId = (hour: number): string => `${DAY}T${String(hour).padStart(2, '0')}`;
  const compactOn = (temporal: TemporalTestServer, workflowId: string, hour: number) =>
    temporal.withWorker(() => temporal.client.workflow.execute(compactMarket, { taskQueue: TASK_QUEUES.process, workflowId, args: [{ hours: [hourId(hour)] }] }));

  before(async () => {
    lake = await startTestLake();
    duckConfig = { ...lake.config, engine: 'duckdb' };
    // The cluster is the shared local API server (`lake infra up kubernetes`), not one of the test lake's.
    k8sConfig = { ...duckConfig, engine: 'spark-k8s', kubeconfigPath: kubeconfigPath(loadConfig()) };
    store = createLakeStore(duckConfig, createS3Client(duckConfig));
    for (const hour of [1, 2, 3]) await writeMarketHour(store, hour);
    await writeMarketHour(store, 4, { corrupt: true });
    duckTemporal = await startTemporalTestServer(duckConfig);
    k8sTemporal = await startTemporalTestServer(k8sConfig);
    kc = createKubeConfig(loadConfig());
    operator = await startFakeSparkOperator(kc, duckConfig);
    // The lake's S3 keys reach the jobs from this Secret, never from the spec.
    const core = kc.makeApiClient(CoreV1Api);
    const secret = {
      metadata: { name: k8sConfig.sparkS3Secret },
      stringData: { 'access-key-id': k8sConfig.s3AccessKeyId, 'secret-access-key': k8sConfig.s3SecretAccessKey },
    };
    try {
      await core.createNamespacedSecret({ namespace: k8sConfig.sparkNamespace, body: secret });
    } catch (err) {
      if (apiErrorCode(err) !== 409) throw err;
      await core.replaceNamespacedSecret({ name: secret.metadata.name, namespace: k8sConfig.sparkNamespace, body: secret });
    }
  });
  after(async () => {
    await operator?.stop();
    await k8sTemporal?.teardown();
    await duckTemporal?.teardown();
    await lake?.stop();
  });

  it('an hour of source D through spark-k8s publishes what DuckDB publishes, and the run shows its engine', async () => {
    const duck = await compactOn(duckTemporal, 'compact:market:duckdb', 1);
    assert.equal(duck.hours[0]?.rows, 30);
    const duckRows = await withSession(duckConfig, (s) => hourRows(s, 1));
    const duckDaily = await withSession(duckConfig, (s) => s.rows(`SELECT * FROM lake.operational.market_daily ORDER BY region`));

    const workflowId = 'compact:market:k8s';
    const result = await compactOn(k8sTemporal, workflowId, 1);
    assert.deepEqual([result.hours[0]?.rows, result.hours[0]?.files, result.dailyRows], [30, 2, 3]);
    assert.deepEqual(await withSession(duckConfig, (s) => hourRows(s, 1)), duckRows, 'the same rows, every column');
    assert.deepEqual(await withSession(duckConfig, (s) => s.rows(`SELECT * FROM lake.operational.market_daily ORDER BY region`)), duckDaily);

    const description = await k8sTemporal.client.workflow.getHandle(workflowId).describe();
    assert.equal(description.typedSearchAttributes.get(ENGINE), 'spark-k8s');
    for (const step of [`compact_market_hour:${hourId(1)}`, `market_daily:${DAY}..${DAY}`]) {
      const name = sparkApplicationName(workflowId, step);
      const app = await readApp(name);
      assert.equal(app?.status?.applicationState?.state, 'COMPLETED', step);
      assert.equal(app?.metadata.annotations?.[ANNOTATIONS.workflowId], workflowId);
      assert.ok(!JSON.stringify(app?.spec).includes(k8sConfig.s3SecretAccessKey), 'no S3 key in the spec');
      assert.deepEqual(app?.spec.driver.env?.find((v) => v.name === 'TEMPOLAKE_S3_SECRET_ACCESS_KEY')?.valueFrom, {
        secretKeyRef: { name: k8sConfig.sparkS3Secret, key: 'secret-access-key' },
      });
      assert.equal(operator.ran.filter((n) => n === name).length, 1);
    }
  });

  it('an activity retried after its worker died adopts the application already made, and never starts a second', async () => {
    const workflowId = 'compact:market:adopt';
    const hh = '02';
    const keys: string[] = [];
    for await (const { key } of store.list(`raw/source_d/day=${DAY}/hour=${hh}/`)) keys.push(key);
    const req = {
      engine: 'spark-k8s' as const,
      transform: 'compact_market_hour' as const,
      input: { day: DAY, hour: 2, files: keys.sort().map((key) => ({ key, location: store.locationOf(key) })), lineage: { workflowId, runId: 'r1', inputs: [] } },
      workflowId,
      runId: 'r1',
      step: `compact_market_hour:${hourId(2)}`,
      outcome: { kind: 'lineage' as const, table: 'curated.market_events', scope: `day=${DAY} hour=${hh}` },
    };
    const deps = { config: k8sConfig, kube: () => kc, openLake: () => openLakeSession(k8sConfig) };
    const name = sparkApplicationName(workflowId, req.step);
    // Attempt 1: its worker "dies" the moment the job runs — it is never heard of again, and nothing deletes the application.
    const running = new Promise<void>((resolve) => (operator.onRunning = (n) => n === name && resolve()));
    const first = runSparkTransform(deps, req).catch((err: unknown) => err);
    await running;
    // Attempt 2, on another worker: same workflow and step, same application.
    const second = await runSparkTransform(deps, req);
    assert.match(second.detail, /adopted from an earlier attempt/);
    assert.equal(second.rows, 30);
    assert.equal(operator.ran.filter((n) => n === name).length, 1, 'one job ran');
    const firstOutcome = (await first) as { rows?: number };
    assert.equal(firstOutcome.rows, 30, 'the abandoned follower saw the same end');
  });

  it('a job that fails on its input fails the run at once, non-retryably, naming the cause', async () => {
    const workflowId = 'compact:market:k8s-bad';
    const before = await snapshotCount(duckConfig, 'curated', 'market_events');
    await assert.rejects(compactOn(k8sTemporal, workflowId, 4), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      const cause = err.cause?.cause as { type?: string; message?: string } | undefined;
      assert.equal(cause?.type, 'SparkBadInput');
      assert.match(String(cause?.message), /BadInputError/);
      assert.match(String(cause?.message), /a raw file of 2024-05-06 hour 04 holds a line that is not a market event/);
      assert.match(String(cause?.message), /ExitCode: 2/);
      return true;
    });
    const history = await k8sTemporal.client.workflow.getHandle(workflowId).fetchHistory();
    const attempts = (history.events ?? []).filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes?.attempt);
    assert.deepEqual(attempts, [1], 'not retried');
    assert.equal(await snapshotCount(duckConfig, 'curated', 'market_events'), before, 'nothing committed');
  });

  it("a driver that cannot start (its Secret missing) is an infrastructure failure, retryable, with the operator's message", async () => {
    const app = renderSparkApplication({ ...k8sConfig, sparkS3Secret: 'no-such-secret' }, { job: 'probe', input: {}, workflowId: 'test:missing-secret', step: 's' });
    await assert.rejects(runSparkApplication(kc, app), (err: unknown) => {
      assert.ok(err instanceof SparkApplicationFailedError);
      assert.equal(err.state, 'SUBMISSION_FAILED');
      assert.equal(err.badInput, false);
      assert.match(err.message, /no-such-secret/);
      return true;
    });
  });

  it('the API server refuses an application that breaks the schema', async () => {
    const app = renderSparkApplication(k8sConfig, { job: 'probe', input: {}, workflowId: 'test:invalid', step: 's' });
    (app.spec as Record<string, unknown>)['type'] = 'Perl';
    await assert.rejects(runSparkApplication(kc, app), (err: unknown) => apiErrorCode(err) === 422);
  });

  it('a cancelled run deletes its application and commits nothing', async () => {
    const workflowId = 'compact:market:k8s-cancel';
    const name = sparkApplicationName(workflowId, `compact_market_hour:${hourId(3)}`);
    const counts = (): Promise<number[]> => Promise.all([snapshotCount(duckConfig, 'curated', 'market_events'), snapshotCount(duckConfig, 'lineage', 'commits')]);
    const before = await counts();
    const running = new Promise<void>((resolve) => (operator.onRunning = (n) => n === name && resolve()));
    await k8sTemporal.withWorker(async () => {
      const handle = await k8sTemporal.client.workflow.start(compactMarket, { taskQueue: TASK_QUEUES.process, workflowId, args: [{ hours: [hourId(3)] }] });
      await running;
      await handle.cancel();
      await assert.rejects(handle.result(), /cancel/i);
    });
    assert.equal(await readApp(name), undefined, 'the SparkApplication is gone');
    // Long enough for a job that was not really stopped to have committed.
    await sleep(15_000);
    assert.deepEqual(await counts(), before, 'no commit to the data or the lineage table');
  });
});
