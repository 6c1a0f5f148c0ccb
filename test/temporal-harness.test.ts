/** The harness itself: a Temporal server that dies mid-test fails the test fast and clearly. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { smokeWorkflow } from '../workflows/smoke.ts';
import { startTemporalTestServer, TemporalServerDiedError } from './helpers/temporal.ts';

describe('test harness', () => {
  it('registers the project search attributes on the test server', async () => {
    const temporal = await startTemporalTestServer();
    try {
      const res = await temporal.env.connection.operatorService.listSearchAttributes({ namespace: temporal.env.namespace ?? 'default' });
      for (const name of ['Source', 'PartitionDay', 'Zone', 'Dataset', 'Engine']) {
        assert.ok(name in res.customAttributes, `search attribute ${name} missing`);
      }
    } finally {
      await temporal.teardown();
    }
  });

  it('killing the Temporal server mid-test rejects with TemporalServerDiedError within seconds', async () => {
    const temporal = await startTemporalTestServer();
    const checkId = `test-${randomUUID()}`;
    const started = Date.now();
    try {
      const outcome = temporal.withWorker(async (taskQueue) => {
        const handle = await temporal.client.workflow.start(smokeWorkflow, { taskQueue: `${taskQueue}-nobody-polls`, workflowId: `smoke:${checkId}`, args: [{ checkId }] });
        process.kill(temporal.pid, 'SIGKILL');
        // Without the guard this would wait on a server that is gone.
        return handle.result();
      });
      await assert.rejects(outcome, (err: unknown) => {
        assert.ok(err instanceof TemporalServerDiedError, `expected TemporalServerDiedError, got ${String(err)}`);
        assert.match(err.message, new RegExp(`pid ${temporal.pid}`));
        return true;
      });
      assert.ok(Date.now() - started < 20_000, `took ${Date.now() - started} ms to notice`);
    } finally {
      await temporal.teardown();
    }
  });
});
