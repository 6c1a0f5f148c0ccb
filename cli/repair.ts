/**
 * `lake backfill <dataset> --missing|--stale|--failed [--from D1 --to D2] [--dry-run] [--concurrency N]`
 * redoes what the catalog says is broken; `lake backfill list|show <id>|cancel <id>` follow repairs.
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Config } from '../lib/config.ts';
import { flag, parseArgs, UsageError } from '../lib/cli/args.ts';
import { createProgressBar } from '../lib/cli/progress-bar.ts';
import { buildCatalog } from '../lib/catalog/build.ts';
import { planRepair, REPAIR_KINDS, repairCatalogRequest, repairWorkflowId, type RepairItem, type RepairKind } from '../lib/catalog/repair-plan.ts';
import { createS3Client } from '../lib/clients/s3.ts';
import { temporalUiUrl } from '../lib/infra/services/temporal.ts';
import { openLakeSession } from '../lib/lake/session.ts';
import { createLakeStore } from '../lib/lake/store.ts';
import { connectClient } from '../lib/temporal/client.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { addDays, assertDay, dayOf } from '../lib/time/days.ts';
import { itemWorkflowId, repairDataset, repairProgressQuery, type RepairProgress } from '../workflows/repair.ts';

const USAGE =
  'usage: lake backfill <dataset> --missing --stale --failed [--from D1 --to D2] [--dry-run] [--concurrency N]\n' +
  '       lake backfill list | show <id> | cancel <id>';

/** The plan as lines: one run per line, with the days it repairs and why. */
export function describePlan(items: readonly RepairItem[]): string[] {
  return items.map((i) => `${i.action.padEnd(6)} ${itemWorkflowId(i).padEnd(28)} ${i.repairs.map((r) => `${r.dataset} ${r.day} ${r.state}${r.reason ? ` (${r.reason})` : ''}`).join('; ')}`);
}

async function plan(config: Config, client: Client | undefined, name: string, window: { from: string; to: string }, kinds: readonly RepairKind[]): Promise<RepairItem[]> {
  const store = createLakeStore(config, createS3Client(config));
  const catalog = await buildCatalog({ config, store, openSession: () => openLakeSession(config), ...(client ? { temporal: client } : {}) }, repairCatalogRequest(config, name, window));
  return planRepair(config, catalog, name, window, kinds);
}

async function follow(client: Client, workflowId: string, total: number): Promise<number> {
  const handle = client.workflow.getHandle<typeof repairDataset>(workflowId);
  const bar = createProgressBar(workflowId, Math.max(total, 1));
  const result = handle.result();
  let finished = false;
  void result.finally(() => (finished = true)).catch(() => undefined);
  while (!finished) {
    const p = await handle.query(repairProgressQuery).catch(() => undefined);
    if (p) bar.update(p.repaired + p.failed + p.alreadyRunning, `${p.failed ? `${p.failed} failed, ` : ''}${p.running.length} running`);
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);
  }
  const state = await result;
  const failed = state.outcomes.filter((o) => o.outcome !== 'repaired');
  bar.finish(`${state.outcomes.length - failed.length} repaired, ${failed.length} not`);
  for (const o of failed) console.log(`${o.outcome} ${o.workflowId}: ${o.detail ?? ''}`);
  return failed.some((o) => o.outcome === 'failed') ? 1 : 0;
}

export async function repairCommand(config: Config, argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const [name, id] = args.positional;
  if (!name) throw new UsageError(USAGE);
  if (name === 'list' || name === 'show' || name === 'cancel') {
    const { client, close } = await connectClient(config);
    try {
      if (name === 'list') {
        for await (const w of client.workflow.list({ query: `WorkflowType = 'repairDataset'` })) {
          console.log(`${w.status.name.padEnd(10)} ${w.startTime.toISOString()}  ${w.workflowId}`);
        }
        return 0;
      }
      if (!id) throw new UsageError(USAGE);
      const handle = client.workflow.getHandle(id);
      if (name === 'cancel') {
        await handle.cancel();
        console.log(`cancel requested: ${id} stops its runs and ends once they have (each day stays as it was or is repaired, never mixed)`);
        return 0;
      }
      const d = await handle.describe();
      console.log(`${id}: ${d.status.name}, started ${d.startTime.toISOString()}${d.closeTime ? `, closed ${d.closeTime.toISOString()}` : ''}\n  ${temporalUiUrl(config)}/${encodeURIComponent(id)}`);
      const p: RepairProgress | undefined = await handle.query(repairProgressQuery).catch(() => undefined);
      if (p) {
        console.log(`  ${p.total} runs: ${p.repaired} repaired, ${p.failed} failed, ${p.alreadyRunning} already running elsewhere, ${p.running.length} running now`);
        for (const o of p.outcomes) console.log(`  ${o.outcome.padEnd(15)} ${o.workflowId}${o.detail ? `: ${o.detail}` : ''}`);
      }
      return 0;
    } finally {
      await close();
    }
  }

  const kinds = REPAIR_KINDS.filter((k) => args.flags.has(k));
  if (kinds.length === 0) throw new UsageError(`say what to redo: --missing, --stale and/or --failed\n${USAGE}`);
  const to = assertDay(flag(args, 'to') ?? dayOf(new Date()), '--to');
  const from = assertDay(flag(args, 'from') ?? addDays(to, -(config.catalogWindowDays - 1)), '--from');
  if (from > to) throw new UsageError(`--from ${from} is after --to ${to}`);
  const concurrency = Number(flag(args, 'concurrency') ?? 4);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError('--concurrency must be a positive whole number');

  const temporal = await connectClient(config).catch((err: Error) => {
    if (!args.flags.has('dry-run')) throw err;
    console.error(`lake: Temporal unreachable (${err.message}): failed and running days unknown`);
    return undefined;
  });
  try {
    const items = await plan(config, temporal?.client, name, { from, to }, kinds);
    const workflowId = repairWorkflowId(name, from, to, kinds);
    console.log(`${workflowId}: ${items.length} run(s)`);
    for (const line of describePlan(items)) console.log(`  ${line}`);
    if (args.flags.has('dry-run') || !temporal) return 0;
    if (items.length === 0) {
      console.log('nothing to repair');
      return 0;
    }
    try {
      await temporal.client.workflow.start(repairDataset, { workflowId, taskQueue: TASK_QUEUES.ingest, args: [{ dataset: name, items, concurrency }] });
      console.log(`started (needs a worker: npx lake worker)\n  ${temporalUiUrl(config)}/${encodeURIComponent(workflowId)}`);
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      // The same repair is running: follow it rather than start a second one.
      console.log(`following the running ${workflowId}`);
    }
    return await follow(temporal.client, workflowId, items.length);
  } finally {
    await temporal?.close();
  }
}
