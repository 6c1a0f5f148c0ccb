/** `lake status [<dataset>] [--from D1 --to D2] [--json]`: the partition catalog (lib/catalog/). */
import type { Config } from '../lib/config.ts';
import { flag, parseArgs } from '../lib/cli/args.ts';
import { buildCatalog } from '../lib/catalog/build.ts';
import { renderDataset, renderSummary } from '../lib/catalog/render.ts';
import { createS3Client } from '../lib/clients/s3.ts';
import { openLakeSession } from '../lib/lake/session.ts';
import { createLakeStore } from '../lib/lake/store.ts';
import { connectClient } from '../lib/temporal/client.ts';
import { addDays, assertDay, dayOf } from '../lib/time/days.ts';

export async function statusCommand(config: Config, argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const [name] = args.positional;
  const to = assertDay(flag(args, 'to') ?? dayOf(new Date()), '--to');
  const from = assertDay(flag(args, 'from') ?? addDays(to, -(config.catalogWindowDays - 1)), '--from');
  if (from > to) throw new RangeError(`--from ${from} is after --to ${to}`);
  const store = createLakeStore(config, createS3Client(config));
  // Temporal says what is running or failed; without it the lake alone still answers.
  const temporal = await connectClient(config).catch((err: Error) => {
    console.error(`lake: Temporal at ${config.temporalAddress.host}:${config.temporalAddress.port} unreachable (${err.message}): running and failed runs unknown`);
    return undefined;
  });
  try {
    const catalog = await buildCatalog(
      { config, store, openSession: () => openLakeSession(config), ...(temporal ? { temporal: temporal.client } : {}) },
      { from, to, ...(name ? { datasets: [name] } : {}) },
    );
    if (args.flags.has('json')) console.log(JSON.stringify(catalog, null, 2));
    else {
      const color = process.stdout.isTTY === true && !process.env['NO_COLOR'];
      const [only] = catalog.datasets;
      console.log(name && only ? renderDataset(only, color) : renderSummary(catalog, color));
    }
    // Scripts can branch on it: 0 all good, 3 something to repair.
    return catalog.datasets.some((d) => d.counts.missing + d.counts.failed + d.counts.stale > 0) ? 3 : 0;
  } finally {
    await temporal?.close();
  }
}
