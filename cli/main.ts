/** The `lake` command line: one subcommand per capability. */
import { ConfigError, describeConfig, loadConfig } from '../lib/config.ts';
import { InfraError } from '../lib/infra/process.ts';
import { infraCommand } from './infra.ts';

const USAGE = `usage: lake <command>

  infra up|down|status [server…]   local Temporal, MinIO, Kafka and PostgreSQL
  demo                             start the servers and run the smoke workflow
  worker                           run the activity/workflow worker until Ctrl-C
  config                           print every setting, its variable and value
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    }
    if (command === 'config') {
      for (const s of describeConfig()) console.log(`${s.env.padEnd(22)} ${s.value.padEnd(36)} ${s.doc}`);
      return 0;
    }
    const config = loadConfig();
    switch (command) {
      case 'infra':
        return await infraCommand(config, rest);
      case 'demo': {
        const { demoCommand } = await import('./demo.ts');
        return await demoCommand(config);
      }
      case 'worker': {
        const { workerCommand } = await import('./worker.ts');
        return await workerCommand(config, rest);
      }
      default:
        console.error(`lake: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof ConfigError || err instanceof InfraError) {
      console.error(`lake: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
