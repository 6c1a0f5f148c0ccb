/**
 * `backfill:<dataset>:<from>..<to>:<kinds>` — a repair: the runs lib/catalog/repair-plan.ts
 * planned from the catalog (upstream first), as child workflows with the scheduled runs' own IDs
 * (`ingest:<source>:<day>`, `curate:<source>:<day>`; weather backfills and a day's market
 * compaction by range and day), at most `concurrency` at a time. A day
 * whose run is already going (a scheduled run, another repair) is left to it. Cancelling the
 * repair cancels its children and waits for them: each day's publish is one commit, so every
 * day is left as it was or repaired, never mixed. It continues as new before its history grows
 * large; started again after it ended, the caller plans afresh and only what is still broken runs.
 */
import { ChildWorkflowCancellationType, continueAsNew, defineQuery, executeChild, isCancellation, setHandler, workflowInfo } from '@temporalio/workflow';
import { hoursOfDay, type RepairItem } from '../lib/catalog/repair-plan.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { curateWorkflowId, ingestFileSource, ingestWorkflowId, processToCurated } from './file-ingest.ts';
import { compactMarket } from './market.ts';
import { backfillWeather, weatherBackfillWorkflowId } from './weather.ts';

export interface RepairInput {
  readonly dataset: string;
  readonly items: readonly RepairItem[];
  readonly concurrency?: number;
  /** Carried across continue-as-new. */
  readonly state?: RepairState;
}

export interface RepairOutcome {
  readonly workflowId: string;
  readonly day: string;
  readonly action: RepairItem['action'];
  readonly outcome: 'repaired' | 'failed' | 'already running';
  readonly detail?: string;
}

export interface RepairState {
  readonly next: number;
  readonly outcomes: readonly RepairOutcome[];
}

export interface RepairProgress {
  readonly dataset: string;
  readonly total: number;
  readonly repaired: number;
  readonly failed: number;
  readonly alreadyRunning: number;
  readonly running: readonly string[];
  readonly outcomes: readonly RepairOutcome[];
}

export const repairProgressQuery = defineQuery<RepairProgress>('repairProgress');

const CHILDREN_PER_RUN = 300;

export function itemWorkflowId(item: RepairItem): string {
  switch (item.action) {
    case 'ingest':
      return ingestWorkflowId(item.source, item.day);
    case 'curate':
      return curateWorkflowId(item.source, item.day);
    case 'weather':
      return weatherBackfillWorkflowId({ from: item.day, to: item.to ?? item.day });
    case 'market':
      return `compact:market:day=${item.day}`;
  }
}

function rootMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e?.cause) e = e.cause as typeof e;
  return e?.message ?? String(err);
}

export async function repairDataset(input: RepairInput): Promise<RepairState> {
  // Weather and market repairs refresh the windows of the days after theirs: one at a time, in day order.
  const serial = input.items.some((i) => i.action === 'weather' || i.action === 'market');
  const concurrency = serial ? 1 : Math.max(1, Math.min(input.concurrency ?? 4, 50));
  let next = input.state?.next ?? 0;
  const outcomes = [...(input.state?.outcomes ?? [])];
  const running = new Map<string, Promise<void>>();
  const count = (o: RepairOutcome['outcome']): number => outcomes.filter((x) => x.outcome === o).length;
  setHandler(repairProgressQuery, () => ({
    dataset: input.dataset,
    total: input.items.length,
    repaired: count('repaired'),
    failed: count('failed'),
    alreadyRunning: count('already running'),
    running: [...running.keys()],
    outcomes,
  }));

  const launch = (item: RepairItem): void => {
    const workflowId = itemWorkflowId(item);
    const common = {
      workflowId,
      // Cancelling the repair waits for each child to stop: no day is left half published.
      cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
    };
    const child = (() => {
      switch (item.action) {
        case 'ingest':
          return executeChild(ingestFileSource, { ...common, taskQueue: TASK_QUEUES.ingest, args: [{ source: item.source, day: item.day, missingFile: 'fail' }] });
        case 'curate':
          return executeChild(processToCurated, { ...common, taskQueue: TASK_QUEUES.process, args: [{ source: item.source, day: item.day }] });
        case 'weather':
          return executeChild(backfillWeather, { ...common, taskQueue: TASK_QUEUES.ingest, args: [{ from: item.day, to: item.to ?? item.day, ...(item.downstreamTo ? { rollingTo: item.downstreamTo } : {}) }] });
        case 'market':
          return executeChild(compactMarket, { ...common, taskQueue: TASK_QUEUES.process, args: [{ hours: hoursOfDay(item.day), ...(item.downstreamTo ? { dailyTo: item.downstreamTo } : {}) }] });
      }
    })();
    const done = (child as Promise<unknown>).then(
      (result) => {
        // A weather backfill completes with its failed children listed rather than failing.
        const failedParts = item.action === 'weather' ? ((result as { failed?: readonly { child: string; reason: string }[] }).failed ?? []) : [];
        outcomes.push(
          failedParts.length === 0
            ? { workflowId, day: item.day, action: item.action, outcome: 'repaired' }
            : { workflowId, day: item.day, action: item.action, outcome: 'failed', detail: failedParts.map((f) => `${f.child}: ${f.reason}`).join('; ') },
        );
      },
      (err: unknown) => {
        if (isCancellation(err)) throw err;
        const alreadyRunning = (err as Error).name === 'WorkflowExecutionAlreadyStartedError';
        outcomes.push({ workflowId, day: item.day, action: item.action, outcome: alreadyRunning ? 'already running' : 'failed', detail: rootMessage(err) });
      },
    );
    running.set(workflowId, done.finally(() => running.delete(workflowId)));
  };

  const startedHere = next;
  for (;;) {
    const mustRoll = next - startedHere >= CHILDREN_PER_RUN || workflowInfo().continueAsNewSuggested;
    while (!mustRoll && running.size < concurrency && next < input.items.length) {
      const item = input.items[next++] as RepairItem;
      // Upstream first: a curate waits until every fetch before it has finished.
      if (item.action === 'curate' && input.items.slice(0, next - 1).some((i) => i.action === 'ingest') && running.size > 0) {
        next--;
        break;
      }
      launch(item);
    }
    if (running.size > 0) {
      try {
        await Promise.race(running.values());
      } catch (err) {
        // Cancelled: every child is being cancelled too; return only once all have stopped.
        await Promise.allSettled(running.values());
        throw err;
      }
      continue;
    }
    if (next >= input.items.length) break;
    if (mustRoll) await continueAsNew<typeof repairDataset>({ ...input, state: { next, outcomes } });
  }
  return { next, outcomes };
}
