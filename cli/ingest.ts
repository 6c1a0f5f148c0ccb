/** `lake ingest <source> --day D` and `lake backfill <source> --from D1 --to D2 [--concurrency N]` */
import { WorkflowIdReusePolicy, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Config } from '../lib/config.ts';
import { parseArgs, flag, requiredFlag, UsageError } from '../lib/cli/args.ts';
import { createProgressBar } from '../lib/cli/progress-bar.ts';
import { temporalUiUrl } from '../lib/infra/services/temporal.ts';
import { fileSource } from '../lib/sources/catalog.ts';
import { connectClient } from '../lib/temporal/client.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { assertDay, daysBetween } from '../lib/time/days.ts';
import { backfillFileSource, backfillProgressQuery, backfillWorkflowId } from '../workflows/backfill.ts';
import { ingestFileSource, ingestWorkflowId } from '../workflows/file-ingest.ts';

export async function ingestCommand(config: Config, argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const [source] = args.positional;
  if (source === 'weather') return (await import('./weather.ts')).weatherIngestCommand(config, argv);
  if (!source) throw new UsageError('usage: lake ingest <source_a|source_b> --day YYYY-MM-DD | lake ingest weather [--hour YYYY-MM-DDTHH]');
  fileSource(config, source);
  const day = assertDay(requiredFlag(args, 'day'), '--day');
  const { client, close } = await connectClient(config);
  try {
    const workflowId = ingestWorkflowId(source, day);
    console.log(`running ${workflowId} (needs a worker: npx lake worker)\n  ${temporalUiUrl(config)}/${encodeURIComponent(workflowId)}`);
    const result = await client.workflow.execute(ingestFileSource, {
      workflowId,
      taskQueue: TASK_QUEUES.ingest,
      args: [{ source, day }],
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    });
    for (const r of result.raw) console.log(`raw      ${r.key} (${r.size} bytes, ${r.created ? 'new' : 'already there'})`);
    const c = result.curated;
    console.log(`curated  ${c.table} ${c.scope}: ${c.rows} rows, ${c.rejected} rejected${c.retries ? `, ${c.retries} commit retries` : ''}`);
    return 0;
  } finally {
    await close();
  }
}

export async function backfillCommand(config: Config, argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const [source] = args.positional;
  if (source === 'weather') return (await import('./weather.ts')).weatherBackfillCommand(config, argv);
  // A dataset name (raw.source_a, curated.source_a…) or a repair's id: the catalog-driven repair.
  if (source && (source.includes('.') || ['list', 'show', 'cancel'].includes(source))) return (await import('./repair.ts')).repairCommand(config, argv);
  if (!source) throw new UsageError('usage: lake backfill <source_a|source_b|weather> --from YYYY-MM-DD --to YYYY-MM-DD [--concurrency N]');
  fileSource(config, source);
  const from = assertDay(requiredFlag(args, 'from'), '--from');
  const to = assertDay(requiredFlag(args, 'to'), '--to');
  const total = daysBetween(from, to).length;
  const concurrency = Number(flag(args, 'concurrency') ?? 4);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError('--concurrency must be a positive whole number');

  const { client, close } = await connectClient(config);
  try {
    const workflowId = backfillWorkflowId(source, from, to);
    let handle;
    try {
      handle = await client.workflow.start(backfillFileSource, { workflowId, taskQueue: TASK_QUEUES.ingest, args: [{ source, from, to, concurrency }] });
      console.log(`started ${workflowId}: ${total} days, ${concurrency} at a time`);
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      // The same backfill is already running: follow it instead of starting a second.
      handle = client.workflow.getHandle(workflowId);
      console.log(`following the running ${workflowId}`);
    }
    console.log(`  ${temporalUiUrl(config)}/${encodeURIComponent(workflowId)}`);
    const bar = createProgressBar(source, total);
    const result = handle.result();
    let finished = false;
    void result.finally(() => (finished = true)).catch(() => undefined);
    while (!finished) {
      // The query follows continue-as-new: the handle has no run id pinned.
      const p = await handle.query(backfillProgressQuery).catch(() => undefined);
      if (p) bar.update(p.succeeded + p.failed, `${p.failed ? `${p.failed} failed, ` : ''}${p.running.length} running`);
      await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);
    }
    const state = await result;
    bar.finish(`${state.succeeded} ok, ${state.failed.length} failed`);
    for (const f of state.failed) console.log(`failed ${f.day}: ${f.reason}`);
    return state.failed.length === 0 ? 0 : 1;
  } finally {
    await close();
  }
}
