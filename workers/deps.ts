/** The real clients a worker process wires into the activity factories. */
import { Context } from '@temporalio/activity';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Kafka, Producer } from 'kafkajs';
import type pg from 'pg';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Config } from '../lib/config.ts';
import { createKubeConfig } from '../lib/clients/kubernetes.ts';
import { createKafka } from '../lib/clients/kafka.ts';
import { createPostgresPool } from '../lib/clients/postgres.ts';
import { createS3Client } from '../lib/clients/s3.ts';
import { createLakeStore } from '../lib/lake/store.ts';
import type { ObjectStore } from '../lib/storage/object-store.ts';
import { openLakeSession } from '../lib/lake/session.ts';
import { createWarehouse } from '../lib/warehouse/index.ts';
import type { Warehouse } from '../lib/warehouse/warehouse.ts';
import { createWeatherClient, type WeatherClient } from '../lib/weather/open-meteo.ts';

export interface WorkerDeps {
  readonly config: Config;
  readonly s3: S3Client;
  readonly kafka: Kafka;
  /** One idempotent producer per worker process, connected on first use, closed with the deps. */
  kafkaProducer(): Promise<Producer>;
  readonly pg: pg.Pool;
  /** Raw zone storage (local folder or S3, by LAKE_STORAGE). */
  readonly store: ObjectStore;
  /** Source C's API client, one per worker process so its rate cap covers every activity. */
  readonly weather: WeatherClient;
  /** The configured warehouse (PostgreSQL or Redshift), created on first use. */
  warehouse(): Warehouse;
  /** The Kubernetes cluster SparkApplications go to (ENGINE spark-k8s), loaded on first use. */
  kube(): KubeConfig;
  close(): Promise<void>;
}

export function createWorkerDeps(config: Config): WorkerDeps {
  const s3 = createS3Client(config);
  const pool = createPostgresPool(config);
  const kafka = createKafka(config, 'tempolake-worker');
  let producer: Promise<Producer> | undefined;
  let warehouse: Warehouse | undefined;
  let kube: KubeConfig | undefined;
  return {
    config,
    s3,
    kafka,
    kafkaProducer() {
      // Idempotent: the broker drops the resends of a retried send instead of storing them twice.
      producer ??= (async () => {
        const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
        await p.connect();
        return p;
      })().catch((err: unknown) => {
        producer = undefined;
        throw err;
      });
      return producer;
    },
    pg: pool,
    store: createLakeStore(config, s3),
    weather: createWeatherClient({
      forecastUrl: config.weatherForecastUrl,
      archiveUrl: config.weatherArchiveUrl,
      timeoutMs: config.weatherTimeoutMs,
      maxAttempts: config.weatherMaxAttempts,
      requestsPerMinute: config.weatherRequestsPerMinute,
      // Waits stay inside the activities' 30-s heartbeat timeout; a longer Retry-After
      // fails the attempt and Temporal's retry policy waits instead.
      maxBackoffMs: 20_000,
      onRetry: (e) => heartbeatIfInActivity({ retrying: e.reason, attempt: e.attempt, waitMs: e.waitMs }),
    }),
    warehouse() {
      warehouse ??= lazyWarehouse(config, pool);
      return warehouse;
    },
    kube() {
      kube ??= createKubeConfig(config);
      return kube;
    },
    async close() {
      await warehouse?.close();
      // An open producer connection would keep the worker process alive after it stops.
      await producer?.then((p) => p.disconnect()).catch(() => undefined);
      s3.destroy();
      await pool.end();
    },
  };
}

function heartbeatIfInActivity(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // Not inside an activity: nobody to tell.
  }
}

/** createWarehouse is async (Redshift's client loads on demand); the activities get a synchronous handle that waits for it. */
function lazyWarehouse(config: Config, pool: pg.Pool): Warehouse {
  const ready = createWarehouse(config, { pool, openLake: () => openLakeSession(config) });
  return {
    dialect: config.warehouse,
    ensureSchema: async () => (await ready).ensureSchema(),
    load: async (request) => (await ready).load(request),
    replaceTable: async (request) => (await ready).replaceTable(request),
    dropTable: async (schema, table) => (await ready).dropTable(schema, table),
    close: async () => (await ready.catch(() => undefined))?.close(),
  };
}
