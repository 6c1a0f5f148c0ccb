/** `lake schedules apply | list | pause | unpause | trigger | backfill | delete` */
import type { Config } from '../lib/config.ts';
import { parseArgs, requiredFlag, UsageError } from '../lib/cli/args.ts';
import { applySchedules } from '../lib/temporal/apply-schedules.ts';
import { connectClient } from '../lib/temporal/client.ts';
import { SCHEDULES } from '../lib/temporal/schedules.ts';
import { assertDay } from '../lib/time/days.ts';

const USAGE = `usage: lake schedules apply
       lake schedules list
       lake schedules pause|unpause|trigger|delete <schedule-id>
       lake schedules backfill <schedule-id> --from YYYY-MM-DD --to YYYY-MM-DD`;

export async function schedulesCommand(config: Config, argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const [action, id] = args.positional;
  const { client, close } = await connectClient(config);
  try {
    switch (action) {
      case 'apply':
        for (const r of await applySchedules(client)) console.log(`${r.outcome.padEnd(8)} ${r.id}`);
        return 0;
      case 'list': {
        const declared = new Map(SCHEDULES.map((d) => [d.id, d]));
        for await (const s of client.schedule.list()) {
          const next = s.info.nextActionTimes[0]?.toISOString() ?? '-';
          const last = s.info.recentActions.at(-1);
          console.log(`${s.scheduleId.padEnd(24)} ${s.state.paused ? 'paused ' : 'active '} next ${next}  last ${last ? `${last.scheduledAt.toISOString()} → ${last.action.workflow.workflowId}` : '-'}`);
          const d = declared.get(s.scheduleId);
          if (d) console.log(`${''.padEnd(24)} ${d.description}`);
        }
        return 0;
      }
      case 'pause':
      case 'unpause':
      case 'trigger':
      case 'delete': {
        if (!id) throw new UsageError(USAGE);
        const handle = client.schedule.getHandle(id);
        if (action === 'pause') await handle.pause('paused from lake schedules pause');
        else if (action === 'unpause') await handle.unpause('unpaused from lake schedules unpause');
        else if (action === 'trigger') await handle.trigger();
        else await handle.delete();
        const done = { pause: 'paused', unpause: 'unpaused', trigger: 'triggered', delete: 'deleted' }[action];
        console.log(`${done} ${id}`);
        return 0;
      }
      case 'backfill': {
        if (!id) throw new UsageError(USAGE);
        const from = assertDay(requiredFlag(args, 'from'), '--from');
        const to = assertDay(requiredFlag(args, 'to'), '--to');
        // Each due time in the range starts a run that stands for its own day (see workflows/scheduled.ts).
        await client.schedule.getHandle(id).backfill({ start: new Date(`${from}T00:00:00Z`), end: new Date(`${to}T23:59:59Z`) });
        console.log(`backfill of ${id} from ${from} to ${to} requested; runs appear in the Temporal UI`);
        return 0;
      }
      default:
        throw new UsageError(USAGE);
    }
  } finally {
    await close();
  }
}
