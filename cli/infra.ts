/** `lake infra up | down | status [server…]` */
import type { Config } from '../lib/config.ts';
import { infraDown, infraStatus, infraUp } from '../lib/infra/index.ts';

export async function infraCommand(config: Config, args: string[]): Promise<number> {
  const [action, ...names] = args;
  const progress = (line: string): void => console.log(line);
  switch (action) {
    case 'up':
      await infraUp(config, progress, names);
      printStatus(await infraStatus(config));
      return 0;
    case 'down':
      await infraDown(config, progress, names);
      return 0;
    case 'status': {
      const statuses = await infraStatus(config);
      printStatus(statuses);
      return statuses.every((s) => s.running) ? 0 : 1;
    }
    default:
      console.error('usage: lake infra up | down | status [temporal|minio|kafka|postgres …]');
      return 2;
  }
}

function printStatus(statuses: Awaited<ReturnType<typeof infraStatus>>): void {
  console.log('');
  for (const s of statuses) {
    const state = s.running ? 'up' : 'down';
    const who = s.managed ? (s.pid !== undefined ? `pid ${s.pid}` : '') : 'external';
    console.log(`${s.running ? '●' : '○'} ${s.name.padEnd(9)} ${state.padEnd(5)} ${s.address}  ${who}`);
    for (const note of s.notes) console.log(`    ${note}`);
  }
}
