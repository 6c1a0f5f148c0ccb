/**
 * sqlfluff, the SQL linter, from PyPI into the cache virtualenv: Redshift cannot run on
 * this machine, so the Redshift SQL the warehouse generates is parsed and linted with
 * `--dialect redshift` instead (a parse error there is a statement Redshift would refuse).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Config } from '../config.ts';
import { InfraError } from './process.ts';
import { pipInstall, venvBin } from './python.ts';

const execFileAsync = promisify(execFile);

export const SQLFLUFF_VERSION = '4.5.0';

/** The project's lint rules for generated Redshift SQL (each exclusion explained there). */
export const SQLFLUFF_CONFIG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../deploy/sqlfluff/.sqlfluff');

async function installedVersion(bin: string): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync(bin, ['--version']);
    return /version (\S+)/.exec(stdout)?.[1];
  } catch {
    return undefined;
  }
}

const pending = new Map<string, Promise<string>>();

/** Path of the pinned sqlfluff, installed once into the cache virtualenv (reused after). */
export function ensureSqlfluff(config: Config): Promise<string> {
  const bin = venvBin(config, 'sqlfluff');
  let p = pending.get(bin);
  if (!p) {
    p = (async () => {
      if ((await installedVersion(bin)) === SQLFLUFF_VERSION) return bin;
      await pipInstall(config, [`sqlfluff==${SQLFLUFF_VERSION}`]);
      const now = await installedVersion(bin);
      if (now !== SQLFLUFF_VERSION) throw new InfraError(`after pip install, ${bin} reports version ${now ?? 'nothing'}, not ${SQLFLUFF_VERSION}`);
      return bin;
    })();
    p.catch(() => pending.delete(bin));
    pending.set(bin, p);
  }
  return p;
}

export interface SqlViolation {
  /** Name of the statement it was found in. */
  readonly statement: string;
  readonly line: number;
  readonly column: number;
  /** Rule code (`PRS` for a parse error). */
  readonly code: string;
  readonly description: string;
}

interface SqlfluffFileResult {
  filepath: string;
  violations: { start_line_no: number; start_line_pos: number; code: string; description: string; warning?: boolean }[];
}

/**
 * Lints named statements with one sqlfluff run (its start-up dominates) and returns every
 * violation, parse errors included; an empty list means all passed.
 */
export async function lintRedshiftSql(bin: string, statements: readonly { name: string; sql: string }[]): Promise<SqlViolation[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tempolake-sqlfluff-'));
  try {
    const byFile = new Map<string, string>();
    statements.forEach((s, i) => {
      const file = `${String(i).padStart(3, '0')}_${s.name.replace(/[^\w-]+/g, '_')}.sql`;
      byFile.set(file, s.name);
      writeFileSync(path.join(dir, file), `${s.sql};\n`);
    });
    const args = ['lint', '--dialect', 'redshift', '--config', SQLFLUFF_CONFIG, '--format', 'json', '--nofail', '--processes', '1', dir];
    const { stdout } = await execFileAsync(bin, args, { maxBuffer: 64 * 1024 * 1024 });
    const results = JSON.parse(stdout) as SqlfluffFileResult[];
    return results.flatMap((r) =>
      r.violations
        .filter((v) => !v.warning)
        .map((v) => ({
          statement: byFile.get(path.basename(r.filepath)) ?? r.filepath,
          line: v.start_line_no,
          column: v.start_line_pos,
          code: v.code,
          description: v.description,
        })),
    );
  } catch (err) {
    if (err instanceof SyntaxError) throw new InfraError(`sqlfluff printed something other than JSON: ${err.message}`);
    throw err;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
