/**
 * `backfill:<source>:<from>:<to>` re-ingests and re-curates a range of days as child
 * workflows (the same `ingest:<source>:<day>` IDs as scheduled runs), at most
 * `concurrency` at a time. It continues as new before its history grows large, so a
 * range of any length fits, and resumes where it was after a worker crash.
 */
import { continueAsNew, defineQuery, executeChild, setHandler, workflowInfo } from '@temporalio/workflow';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { daysBetween } from '../lib/time/days.ts';
import { ingestFileSource, ingestWorkflowId } from './file-ingest.ts';

export interface BackfillInput {
  readonly source: string;
  readonly from: string;
  readonly to: string;
  readonly concurrency?: number;
  /** Children started per run before continuing as new (each child adds ~10 history events). */
  readonly childrenPerRun?: number;
  /** Carried across continue-as-new. */
  readonly state?: BackfillState;
}

export interface BackfillState {
  readonly next: number;
  readonly succeeded: number;
  readonly failed: readonly { day: string; reason: string }[];
}

export interface BackfillProgress {
  readonly total: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly running: readonly string[];
}

export const backfillProgressQuery = defineQuery<BackfillProgress>('backfillProgress');

const CHILDREN_PER_RUN = 400;

export const backfillWorkflowId = (source: string, from: string, to: string): string => `backfill:${source}:${from}:${to}`;

export async function backfillFileSource(input: BackfillInput): Promise<BackfillState> {
  const days = daysBetween(input.from, input.to);
  const concurrency = Math.max(1, Math.min(input.concurrency ?? 4, 100));
  let next = input.state?.next ?? 0;
  let succeeded = input.state?.succeeded ?? 0;
  const failed = [...(input.state?.failed ?? [])];
  const running = new Map<string, Promise<void>>();
  setHandler(backfillProgressQuery, () => ({ total: days.length, succeeded, failed: failed.length, running: [...running.keys()] }));

  const startedHere = next;
  const launch = (day: string): void => {
    const child = executeChild(ingestFileSource, {
      workflowId: ingestWorkflowId(input.source, day),
      taskQueue: TASK_QUEUES.ingest,
      args: [{ source: input.source, day, missingFile: 'fail' }],
    }).then(
      () => {
        succeeded++;
      },
      (err: unknown) => {
        failed.push({ day, reason: rootMessage(err) });
      },
    );
    running.set(day, child.finally(() => running.delete(day)));
  };

  for (;;) {
    const mustRoll = next - startedHere >= (input.childrenPerRun ?? CHILDREN_PER_RUN) || workflowInfo().continueAsNewSuggested;
    while (!mustRoll && running.size < concurrency && next < days.length) launch(days[next++] as string);
    if (running.size > 0) {
      await Promise.race(running.values());
      continue;
    }
    if (next >= days.length) break;
    // Drained and due to roll over: a fresh run carries on with an empty history.
    await continueAsNew<typeof backfillFileSource>({ ...input, state: { next, succeeded, failed } });
  }
  return { next, succeeded, failed };
}

function rootMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e?.cause) e = e.cause as typeof e;
  return e?.message ?? String(err);
}
