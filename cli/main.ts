/** The `lake` command line: one subcommand per capability. */
import { ConfigError, describeConfig, loadConfig } from '../lib/config.ts';
import { UsageError } from '../lib/cli/args.ts';
import { InfraError } from '../lib/infra/process.ts';
import { infraCommand } from './infra.ts';

const USAGE = `usage: lake <command>

  infra up|down|status [server…]   local Temporal, MinIO, Kafka and PostgreSQL
  demo [--no-serve]                start the servers, run the main job on the local lake, load the
                                   warehouse and serve the API (until Ctrl-C)
  worker [--queue ingest,process,analysis]
                                   run the Temporal workers until Ctrl-C
  ingest <source> --day D          ingest and curate one day of source_a or source_b
  ingest weather [--hour H]        one hourly weather run (current + forecast, all regions)
  status [<dataset>] [--from D1 --to D2] [--json]
                                   every dataset's partitions: missing, running, published, failed,
                                   stale; one dataset as a calendar with its problems
  backfill <dataset> --missing --stale --failed [--from D1 --to D2] [--dry-run]
                                   redo exactly the days the catalog says are broken, upstream first
  backfill list | show <id> | cancel <id>
                                   the repairs: progress, outcome per day, cancel
  backfill <source> --from D1 --to D2 [--concurrency N]
                                   re-ingest a range of days, with a progress bar
  backfill weather --from D1 --to D2 [--regions r01,r02] [--concurrency N]
                                   hourly weather history from the archive endpoint
  consume market                   source D's Kafka topic into the raw zone until Ctrl-C (exactly once)
  simulate files --source a|b --from D1 [--to D2] [--records N]
                                   write simulator files for sources A/B (served over FTP/HTTP)
  stream start|stop|status         the market (source D) producer: endpoint → Kafka
  schedules apply|list|pause|unpause|trigger|backfill|delete
                                   the Temporal schedules declared in lib/temporal/schedules.ts
  load [--from D1 --to D2] [--tables t1,t2]
                                   load the warehouse from the lake's operational tables
  api                              serve the REST API (docs at /docs/) until Ctrl-C
  customers create <name> | list   customers of the API: schema, role and API key (shown once)
  config                           print every setting, its variable and value
  deploy env [--part P | --out DIR] | render <overlay> | kustomize
                                   Kubernetes: the settings as .env files for deploy/k8s, the
                                   rendered manifests, the pinned kustomize
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
        return await demoCommand(config, rest);
      }
      case 'worker': {
        const { workerCommand } = await import('./worker.ts');
        return await workerCommand(config, rest);
      }
      case 'ingest': {
        const { ingestCommand } = await import('./ingest.ts');
        return await ingestCommand(config, rest);
      }
      case 'status': {
        const { statusCommand } = await import('./status.ts');
        return await statusCommand(config, rest);
      }
      case 'backfill': {
        const { backfillCommand } = await import('./ingest.ts');
        return await backfillCommand(config, rest);
      }
      case 'consume': {
        const { consumeCommand } = await import('./consume.ts');
        return await consumeCommand(config, rest);
      }
      case 'simulate': {
        const { simulateCommand } = await import('./simulate.ts');
        return await simulateCommand(config, rest);
      }
      case 'stream': {
        const { streamCommand } = await import('./stream.ts');
        return await streamCommand(config, rest);
      }
      case 'load': {
        const { loadCommand } = await import('./warehouse.ts');
        return await loadCommand(config, rest);
      }
      case 'schedules': {
        const { schedulesCommand } = await import('./schedules.ts');
        return await schedulesCommand(config, rest);
      }
      case 'api': {
        const { apiCommand } = await import('./api.ts');
        return await apiCommand(config, rest);
      }
      case 'deploy': {
        const { deployCommand } = await import('./deploy.ts');
        return await deployCommand(config, rest);
      }
      case 'customers': {
        const { customersCommand } = await import('./customers.ts');
        return await customersCommand(config, rest);
      }
      default:
        console.error(`lake: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof ConfigError || err instanceof InfraError || err instanceof UsageError || err instanceof RangeError) {
      console.error(`lake: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
