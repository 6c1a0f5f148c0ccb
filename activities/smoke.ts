/**
 * Smoke activities: one real round trip through each server the platform uses
 * (object storage, Kafka, the warehouse). Each step is idempotent so a retry
 * after a crash repeats it harmlessly.
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { heartbeat } from '@temporalio/activity';
import type { Kafka } from 'kafkajs';
import type pg from 'pg';

export interface SmokeDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly kafka: Kafka;
  readonly pg: pg.Pool;
}

export interface ObjectWritten {
  readonly bucket: string;
  readonly key: string;
  readonly bytes: number;
  readonly etag: string;
}

export interface MessageRoundTrip {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly value: string;
}

export interface RowRoundTrip {
  readonly id: string;
  readonly note: string;
  readonly writtenAt: string;
}

export const SMOKE_TABLE = 'tempolake_smoke_checks';

export function createSmokeActivities(deps: SmokeDeps) {
  return {
    /** Writes an object and reads it back, so a write the store did not keep fails here. */
    async writeSmokeObject(input: { key: string; body: string }): Promise<ObjectWritten> {
      const put = await deps.s3.send(
        new PutObjectCommand({ Bucket: deps.bucket, Key: input.key, Body: input.body, ContentType: 'application/json' }),
      );
      const got = await deps.s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: input.key }));
      const text = await got.Body?.transformToString();
      if (text !== input.body) throw new Error(`object ${input.key} read back differs from what was written`);
      return { bucket: deps.bucket, key: input.key, bytes: Buffer.byteLength(input.body), etag: put.ETag ?? '' };
    },

    /** Produces one message, then consumes it back from the offset the broker gave it. */
    async roundTripKafkaMessage(input: { topic: string; key: string; value: string }): Promise<MessageRoundTrip> {
      const admin = deps.kafka.admin();
      await admin.connect();
      try {
        await admin.createTopics({ topics: [{ topic: input.topic, numPartitions: 1 }], waitForLeaders: true });
      } finally {
        await admin.disconnect();
      }
      const producer = deps.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      let partition: number;
      let offset: string;
      try {
        const [meta] = await producer.send({ topic: input.topic, acks: -1, messages: [{ key: input.key, value: input.value }] });
        if (!meta?.baseOffset) throw new Error(`broker returned no offset for ${input.topic}`);
        partition = meta.partition;
        offset = meta.baseOffset;
      } finally {
        await producer.disconnect();
      }
      heartbeat('produced');

      const consumer = deps.kafka.consumer({ groupId: `tempolake-smoke-${input.key}` });
      await consumer.connect();
      try {
        await consumer.subscribe({ topic: input.topic, fromBeginning: true });
        const value = await new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`message at ${input.topic}/${partition}@${offset} not consumed within 30 s`)), 30_000);
          consumer
            .run({
              autoCommit: false,
              eachMessage: async ({ partition: p, message }) => {
                if (p === partition && message.offset === offset) {
                  clearTimeout(timer);
                  resolve(message.value?.toString() ?? '');
                }
              },
            })
            .then(() => consumer.seek({ topic: input.topic, partition, offset }))
            .catch(reject);
        });
        if (value !== input.value) throw new Error(`consumed "${value}", produced "${input.value}"`);
        return { topic: input.topic, partition, offset, value };
      } finally {
        await consumer.disconnect();
      }
    },

    /** Upserts one row and selects it back (idempotent by id). */
    async roundTripPostgresRow(input: { id: string; note: string }): Promise<RowRoundTrip> {
      await deps.pg.query(
        `CREATE TABLE IF NOT EXISTS ${SMOKE_TABLE} (id text PRIMARY KEY, note text NOT NULL, written_at timestamptz NOT NULL DEFAULT now())`,
      );
      await deps.pg.query(
        `INSERT INTO ${SMOKE_TABLE} (id, note) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET note = EXCLUDED.note`,
        [input.id, input.note],
      );
      const res = await deps.pg.query<{ id: string; note: string; written_at: Date }>(
        `SELECT id, note, written_at FROM ${SMOKE_TABLE} WHERE id = $1`,
        [input.id],
      );
      const row = res.rows[0];
      if (!row) throw new Error(`row ${input.id} not found after insert`);
      return { id: row.id, note: row.note, writtenAt: row.written_at.toISOString() };
    },
  };
}

export type SmokeActivities = ReturnType<typeof createSmokeActivities>;
