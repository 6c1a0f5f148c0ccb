/** `lake ingest weather [--hour H]` and `lake backfill weather --from D1 --to D2 [--regions r01,r02] [--concurrency N]` */
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/client';
import type { Config } from '../lib/config.ts';
import { flag, parseArgs, requiredFlag, UsageError } from '../lib/cli/args.ts';
import { createProgressBar } from '../lib/cli/progress-bar.ts';
import { temporalUiUrl } from '../lib/infra/services/temporal.ts';
import { connectClient } from '../lib/temporal/client.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { assertDay } from '../lib/time/days.ts';
import { assertHour, hourOf } from '../lib/time/hours.ts';
import { backfillWeather, ingestWeatherHour, weatherBackfillProgressQuery, weatherBackfillWorkflowId, weatherHourWorkflowId } from '../workflows/weather.ts';

const positiveInt = (raw: string | undefined, name: string, fallback: number): number => {
  const n = Number(raw ?? fallback);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive whole number`);
  return n;
};

const regionsFlag = (raw: string | undefined): string[] | undefined => {
  const ids = raw?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return ids && ids.length > 0 ? ids : undefined;
};

export async function weatherIngestCommand(config: Config, argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const hour = assertHour(flag(args, 'hour') ?? hourOf(new Date()), '--hour');
  const regions = regionsFlag(flag(args, 'regions'));
  const { client, close } = await connectClient(config);
  try {
    const workflowId = weatherHourWorkflowId(hour);
    console.log(`running ${workflowId} (needs a worker: npx lake worker)\n  ${temporalUiUrl(config)}/${encodeURIComponent(workflowId)}`);
    const r = await client.workflow.execute(ingestWeatherHour, {
      workflowId,
      taskQueue: TASK_QUEUES.ingest,
      args: [{ hour, ...(regions ? { regions } : {}) }],
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    });
    for (const key of r.rawFiles) console.log(`raw         ${key}`);
    console.log(`curated     weather_observed ${r.observedRows} rows, weather_forecast ${r.forecastRows} rows (${r.regions} regions)`);
    console.log(`operational weather_daily ${r.dailyRows} rows, weather_rolling ${r.rollingRows} rows`);
    return 0;
  } finally {
    await close();
  }
}

export async function weatherBackfillCommand(config: Config, argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const from = assertDay(requiredFlag(args, 'from'), '--from');
  const to = assertDay(requiredFlag(args, 'to'), '--to');
  if (from > to) throw new UsageError(`--from (${from}) is after --to (${to})`);
  const regions = regionsFlag(flag(args, 'regions'));
  const concurrency = positiveInt(flag(args, 'concurrency'), 'concurrency', 4);
  const input = { from, to, concurrency, ...(regions ? { regions } : {}) };

  const { client, close } = await connectClient(config);
  try {
    const workflowId = weatherBackfillWorkflowId(input);
    let handle;
    try {
      handle = await client.workflow.start(backfillWeather, { workflowId, taskQueue: TASK_QUEUES.ingest, args: [input] });
      console.log(`started ${workflowId}: ${regions ? regions.length : 'all'} regions, one archive request per region and year, ${concurrency} years at a time`);
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      // The same backfill is already running: follow it instead of starting a second.
      handle = client.workflow.getHandle(workflowId);
      console.log(`following the running ${workflowId}`);
    }
    console.log(`  ${temporalUiUrl(config)}/${encodeURIComponent(workflowId)}`);
    const result = handle.result();
    let finished = false;
    void result.finally(() => (finished = true)).catch(() => undefined);
    let bar: ReturnType<typeof createProgressBar> | undefined;
    while (!finished) {
      // The query follows continue-as-new: the handle has no run id pinned.
      const p = await handle.query(weatherBackfillProgressQuery).catch(() => undefined);
      if (p) {
        bar ??= createProgressBar('weather hours', p.hoursTotal);
        bar.update(p.hours, `${p.succeeded}/${p.total} region-years${p.failed ? `, ${p.failed} failed` : ''}, ${p.running.length} running`);
      }
      await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);
    }
    const state = await result;
    (bar ?? createProgressBar('weather hours', state.hours)).finish(`${state.succeeded} ok, ${state.failed.length} failed; rolling averages: ${state.rollingRows ?? 0} rows`);
    for (const f of state.failed) console.log(`failed ${f.child}: ${f.reason}`);
    return state.failed.length === 0 ? 0 : 1;
  } finally {
    await close();
  }
}
