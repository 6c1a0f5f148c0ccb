/** The platform's servers, driven by a workflow on a real Temporal dev server, checked from outside. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import { createKafka } from '../lib/clients/kafka.ts';
import { createPostgresPool } from '../lib/clients/postgres.ts';
import { createS3Client } from '../lib/clients/s3.ts';
import { SMOKE_TABLE } from '../activities/smoke.ts';
import { smokeWorkflow, SMOKE_TOPIC } from '../workflows/smoke.ts';
import { startTemporalTestServer, type TemporalTestServer } from './helpers/temporal.ts';

describe('smoke workflow on real servers', () => {
  let temporal: TemporalTestServer;
  before(async () => {
    temporal = await startTemporalTestServer();
  });
  after(async () => {
    await temporal?.teardown();
  });

  it('writes to MinIO, Kafka and PostgreSQL, and each server has what the workflow reported', async () => {
    const checkId = `test-${randomUUID()}`;
    const result = await temporal.withWorker((taskQueue) =>
      temporal.client.workflow.execute(smokeWorkflow, { taskQueue, workflowId: `smoke:${checkId}`, args: [{ checkId }] }),
    );
    const expectedPayload = JSON.stringify({ checkId, workflowId: `smoke:${checkId}` });
    const { config } = temporal;

    const s3 = createS3Client(config);
    try {
      const got = await s3.send(new GetObjectCommand({ Bucket: config.s3Bucket, Key: result.object.key }));
      assert.equal(await got.Body?.transformToString(), expectedPayload);
      assert.equal(result.object.bytes, Buffer.byteLength(expectedPayload));
    } finally {
      s3.destroy();
    }

    // Read the message back with a consumer of the test's own, at the offset the workflow reported.
    assert.equal(result.message.topic, SMOKE_TOPIC);
    const consumer = createKafka(config, 'smoke-test').consumer({ groupId: `smoke-test-${checkId}` });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: SMOKE_TOPIC, fromBeginning: true });
      const seen = await new Promise<{ key: string; value: string }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('message not consumed within 30 s')), 30_000);
        consumer
          .run({
            autoCommit: false,
            eachMessage: async ({ partition, message }) => {
              if (partition === result.message.partition && message.offset === result.message.offset) {
                clearTimeout(timer);
                resolve({ key: message.key?.toString() ?? '', value: message.value?.toString() ?? '' });
              }
            },
          })
          .then(() => consumer.seek({ topic: SMOKE_TOPIC, partition: result.message.partition, offset: result.message.offset }))
          .catch(reject);
      });
      assert.deepEqual(seen, { key: checkId, value: expectedPayload });
    } finally {
      await consumer.disconnect();
    }

    const pool = createPostgresPool(config);
    try {
      const rows = await pool.query(`SELECT id, note FROM ${SMOKE_TABLE} WHERE id = $1`, [checkId]);
      assert.deepEqual(rows.rows, [{ id: checkId, note: expectedPayload }]);
    } finally {
      await pool.end();
    }
  });

  it('running the same check again upserts rather than duplicating the row', async () => {
    const checkId = `test-${randomUUID()}`;
    for (const attempt of [1, 2]) {
      await temporal.withWorker((taskQueue) =>
        temporal.client.workflow.execute(smokeWorkflow, { taskQueue, workflowId: `smoke:${checkId}:${attempt}`, args: [{ checkId }] }),
      );
    }
    const pool = createPostgresPool(temporal.config);
    try {
      const rows = await pool.query(`SELECT count(*)::int AS n FROM ${SMOKE_TABLE} WHERE id = $1`, [checkId]);
      assert.equal(rows.rows[0].n, 1);
    } finally {
      await pool.end();
    }
  });

  it('a workflow whose activity cannot reach its server fails with the cause in the chain', async () => {
    // Same workflow, but the worker's S3 client points at a bucket that does not exist.
    const checkId = `test-${randomUUID()}`;
    const failing = await startTemporalTestServer({ ...temporal.config, s3Bucket: `missing-${checkId.slice(-12)}` });
    try {
      const err = await failing
        .withWorker((taskQueue) =>
          failing.client.workflow.execute(smokeWorkflow, {
            taskQueue,
            workflowId: `smoke:${checkId}`,
            args: [{ checkId }],
            workflowExecutionTimeout: '2 minutes',
          }),
        )
        .then(
          () => assert.fail('workflow should have failed'),
          (e: unknown) => e,
        );
      assert.ok(err instanceof WorkflowFailedError, `expected WorkflowFailedError, got ${String(err)}`);
      const activityFailure = err.cause;
      assert.equal(activityFailure?.name, 'ActivityFailure');
      assert.match(String((activityFailure?.cause as Error | undefined)?.message), /bucket does not exist/i);
    } finally {
      await failing.teardown();
    }
  });
});
