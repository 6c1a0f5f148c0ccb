/** Backfill fan-out and Temporal schedules for sources A/B, on real servers. */
import assert from 'node:assert/strict';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { applySchedules } from '../lib/temporal/apply-schedules.ts';
import { SCHEDULES } from '../lib/temporal/schedules.ts';
import { generateSourceFile, sourceFileName } from '../simulators/files/generate.ts';
import { backfillFileSource, backfillProgressQuery, type BackfillProgress } from '../workflows/backfill.ts';
import { ingestWorkflowId } from '../workflows/file-ingest.ts';
import { startFileEnv, stopFileEnv, withSession, type FileEnv } from './helpers/file-env.ts';

async function curatedDays(env: FileEnv): Promise<string[]> {
  return withSession(env.config, async (s) =>
    (await s.rows<{ day: string }>('SELECT DISTINCT "day" FROM lake.curated.source_a ORDER BY 1')).map((r) => r.day),
  );
}

/** Waits for a workflow a schedule or a parent starts, then for its result. */
async function resultOf(client: Client, workflowId: string, timeoutMs = 120_000): Promise<unknown> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await client.workflow.getHandle(workflowId).result();
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError) || Date.now() > deadline) throw err;
      await sleep(250);
    }
  }
}

describe('backfill and schedules', () => {
  let env: FileEnv;
  const days = ['2021-10-04', '2021-10-05', '2021-10-06', '2021-10-07', '2021-10-08'];
  const missing = '2021-10-07';

  before(async () => {
    env = await startFileEnv();
    for (const day of days.filter((d) => d !== missing)) {
      await generateSourceFile({ source: 'a', day, records: 500, seed: day, out: path.join(env.filesDir, 'source_a', sourceFileName('a', day)) });
    }
  });
  after(() => stopFileEnv(env));

  it('fans out one child per day, bounded, across continue-as-new; a day missing at the source is reported, not waited for', async () => {
    const { client } = env.temporal;
    const progress: BackfillProgress[] = [];
    const state = await env.temporal.withWorker(async (taskQueue) => {
      const handle = await client.workflow.start(backfillFileSource, {
        taskQueue,
        workflowId: 'backfill:source_a:2021-10-04:2021-10-08',
        // Two children per run forces two continue-as-new on five days.
        args: [{ source: 'source_a', from: days[0] as string, to: days.at(-1) as string, concurrency: 2, childrenPerRun: 2 }],
      });
      const firstRunId = handle.firstExecutionRunId;
      const result = handle.result();
      let done = false;
      void result.finally(() => (done = true)).catch(() => undefined);
      while (!done) {
        const p = await handle.query(backfillProgressQuery).catch(() => undefined);
        if (p) progress.push(p);
        await sleep(200);
      }
      const desc = await handle.describe();
      assert.notEqual(desc.runId, firstRunId, 'the backfill continued as new');
      return result;
    });
    assert.equal(state.succeeded, 4);
    assert.deepEqual(state.failed.map((f) => f.day), [missing]);
    assert.match(state.failed[0]?.reason ?? '', /no file matching/);
    assert.ok(progress.length > 0, 'progress was queryable while running');
    assert.ok(progress.every((p) => p.running.length <= 2), 'never more than `concurrency` children at once');
    assert.deepEqual(await curatedDays(env), ['2021-10-01', '2021-10-02', '2021-10-03', '2021-10-05']);
  });

  it('applies the declared schedules idempotently', async () => {
    const { client } = env.temporal;
    const first = await applySchedules(client);
    assert.deepEqual(first.map((r) => r.outcome), SCHEDULES.map(() => 'created'));
    const second = await applySchedules(client);
    assert.deepEqual(second.map((r) => r.outcome), SCHEDULES.map(() => 'updated'));
    const desc = await client.schedule.getHandle('ingest-source_a-daily').describe();
    assert.equal(desc.action.type, 'startWorkflow');
    assert.equal(desc.action.workflowType, 'scheduledFileIngest');
    for (const s of SCHEDULES) await client.schedule.getHandle(s.id).pause('test');
  });

  it('a schedule backfill lands each run in the day it was due, not the day it ran', async () => {
    const { client } = env.temporal;
    const day = '2021-10-09';
    await generateSourceFile({ source: 'a', day, records: 300, seed: day, out: path.join(env.filesDir, 'source_a', sourceFileName('a', day)) });
    const handle = client.schedule.getHandle('ingest-source_a-daily');
    await env.temporal.withWorker(async () => {
      // One action, due at 06:00 on 2021-10-09, taken now (years later).
      await handle.backfill({ start: new Date(`${day}T00:00:00Z`), end: new Date(`${day}T23:59:59Z`) });
      return resultOf(client, ingestWorkflowId('source_a', day));
    });
    assert.equal((await curatedDays(env)).at(-1), '2021-10-06', 'raw day 2021-10-09 lands in curated day 2021-10-06');
    const desc = await handle.describe();
    const last = desc.info.recentActions.at(-1);
    assert.equal(last?.scheduledAt.toISOString(), `${day}T06:00:00.000Z`);
  });
});
