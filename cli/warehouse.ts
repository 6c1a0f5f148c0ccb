/** `lake load [--from D1 --to D2] [--tables regions,weather_daily]`: load the warehouse from the lake now. */
import { WorkflowIdReusePolicy } from '@temporalio/client';
import type { Config } from '../lib/config.ts';
import { flag, parseArgs, UsageError } from '../lib/cli/args.ts';
import { temporalUiUrl } from '../lib/infra/services/temporal.ts';
import { connectClient } from '../lib/temporal/client.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { assertDay } from '../lib/time/days.ts';
import { WAREHOUSE_TABLE_NAMES, type WarehouseTableName } from '../lib/warehouse/table-names.ts';
import { loadWarehouse, type LoadWarehouseInput } from '../workflows/warehouse.ts';

function tablesFlag(raw: string | undefined): WarehouseTableName[] | undefined {
  if (raw === undefined) return undefined;
  const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!(WAREHOUSE_TABLE_NAMES as readonly string[]).includes(n)) throw new UsageError(`--tables: unknown table "${n}" (known: ${WAREHOUSE_TABLE_NAMES.join(', ')})`);
  }
  return names as WarehouseTableName[];
}

export async function loadCommand(config: Config, argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const fromFlag = flag(args, 'from');
  const toFlag = flag(args, 'to');
  if ((fromFlag === undefined) !== (toFlag === undefined)) throw new UsageError('--from and --to go together (neither: every day)');
  const tables = tablesFlag(flag(args, 'tables'));
  const input: LoadWarehouseInput = {
    ...(tables ? { tables } : {}),
    ...(fromFlag && toFlag ? { range: { from: assertDay(fromFlag, '--from'), to: assertDay(toFlag, '--to') } } : {}),
  };
  if (input.range && input.range.from > input.range.to) throw new UsageError(`--from (${input.range.from}) is after --to (${input.range.to})`);
  const { client, close } = await connectClient(config);
  try {
    const workflowId = `warehouse-load:${input.range ? `${input.range.from}:${input.range.to}` : 'all'}`;
    console.log(`running ${workflowId} into the ${config.warehouse} warehouse (needs a worker: npx lake worker)\n  ${temporalUiUrl(config)}/${encodeURIComponent(workflowId)}`);
    const r = await client.workflow.execute(loadWarehouse, {
      workflowId,
      taskQueue: TASK_QUEUES.process,
      args: [input],
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    });
    for (const l of r.loads) {
      const what = l.unchanged ? 'unchanged' : `replaced ${l.replaced} rows`;
      console.log(`${l.table.padEnd(16)} ${String(l.rows).padStart(8)} rows  ${what}  (${(l.ms / 1000).toFixed(1)} s)`);
    }
    return 0;
  } finally {
    await close();
  }
}
