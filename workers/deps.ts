/** The real clients a worker process wires into the activity factories. */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Kafka } from 'kafkajs';
import type pg from 'pg';
import type { Config } from '../lib/config.ts';
import { createKafka } from '../lib/clients/kafka.ts';
import { createPostgresPool } from '../lib/clients/postgres.ts';
import { createS3Client } from '../lib/clients/s3.ts';
import { createLakeStore } from '../lib/lake/store.ts';
import type { ObjectStore } from '../lib/storage/object-store.ts';

export interface WorkerDeps {
  readonly config: Config;
  readonly s3: S3Client;
  readonly kafka: Kafka;
  readonly pg: pg.Pool;
  /** Raw zone storage (local folder or S3, by LAKE_STORAGE). */
  readonly store: ObjectStore;
  close(): Promise<void>;
}

export function createWorkerDeps(config: Config): WorkerDeps {
  const s3 = createS3Client(config);
  const pool = createPostgresPool(config);
  return {
    config,
    s3,
    kafka: createKafka(config, 'tempolake-worker'),
    pg: pool,
    store: createLakeStore(config, s3),
    async close() {
      s3.destroy();
      await pool.end();
    },
  };
}
