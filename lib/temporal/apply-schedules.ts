/** Creates or updates the declared schedules: applying twice changes nothing. */
import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import { scheduleAction, SCHEDULES, type ScheduleDecl } from './schedules.ts';

export async function applySchedules(client: Client, decls: readonly ScheduleDecl[] = SCHEDULES): Promise<{ id: string; outcome: 'created' | 'updated' }[]> {
  const out: { id: string; outcome: 'created' | 'updated' }[] = [];
  for (const d of decls) {
    const handle = client.schedule.getHandle(d.id);
    const policies = { overlap: d.overlap, catchupWindow: d.catchupWindow };
    try {
      await handle.describe();
      await handle.update((prev) => ({ ...prev, spec: d.spec, action: scheduleAction(d), policies }));
      out.push({ id: d.id, outcome: 'updated' });
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
      await client.schedule.create({ scheduleId: d.id, spec: d.spec, action: scheduleAction(d), policies, memo: { description: d.description } });
      out.push({ id: d.id, outcome: 'created' });
    }
  }
  return out;
}
