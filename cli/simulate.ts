/** `lake simulate files --source a|b --from D1 [--to D2] [--records N] [--malformed-rate R] [--no-timestamp]` */
import path from 'node:path';
import type { Config } from '../lib/config.ts';
import { flag, parseArgs, requiredFlag, UsageError } from '../lib/cli/args.ts';
import { simulatedFilesDir } from '../lib/infra/services/file-sources.ts';
import { assertDay, daysBetween } from '../lib/time/days.ts';
import { generateSourceFile, sourceFileName, type SourceLetter } from '../simulators/files/generate.ts';

const USAGE = 'usage: lake simulate files --source a|b --from YYYY-MM-DD [--to YYYY-MM-DD] [--records N] [--malformed-rate 0.001] [--no-timestamp]';

/** Writes the files the local FTP/HTTP simulators serve for sources A and B. */
export async function simulateFiles(config: Config, opts: { source: SourceLetter; days: string[]; records: number; malformedRate: number; withTimestamp?: boolean }): Promise<{ path: string; records: number; bytes: number }[]> {
  const out = [];
  for (const day of opts.days) {
    const dir = path.join(simulatedFilesDir(config), `source_${opts.source}`);
    out.push(
      await generateSourceFile({
        source: opts.source,
        day,
        records: opts.records,
        malformedRate: opts.malformedRate,
        withTimestamp: opts.withTimestamp ?? true,
        seed: `${opts.source}:${day}`,
        out: path.join(dir, sourceFileName(opts.source, day)),
      }),
    );
  }
  return out;
}

export async function simulateCommand(config: Config, argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.positional[0] !== 'files') throw new UsageError(USAGE);
  const source = requiredFlag(args, 'source');
  if (source !== 'a' && source !== 'b') throw new UsageError(USAGE);
  const from = assertDay(requiredFlag(args, 'from'), '--from');
  const to = assertDay(flag(args, 'to') ?? from, '--to');
  const records = Number(flag(args, 'records') ?? 10_000);
  const malformedRate = Number(flag(args, 'malformed-rate') ?? 0.001);
  const files = await simulateFiles(config, { source, days: daysBetween(from, to), records, malformedRate, withTimestamp: !args.flags.has('no-timestamp') });
  for (const f of files) console.log(`${f.path} (${f.records} records, ${(f.bytes / 1e6).toFixed(1)} MB)`);
  return 0;
}
