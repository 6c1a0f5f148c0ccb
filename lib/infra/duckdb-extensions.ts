/**
 * DuckDB extensions without run-time downloads: PyPI ships each extension as a wheel
 * (`duckdb-extension-<name>`); we unpack the files into DuckDB's own folder layout
 * (`<dir>/v<version>/<platform>/<name>.duckdb_extension`) so an instance created with
 * `extension_directory` autoloads them. An extension loads only into its own DuckDB
 * version: keep DUCKDB_VERSION in step with @duckdb/node-api in package.json.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.ts';
import { cachePath } from './paths.ts';
import { run } from './process.ts';
import { ensureVenv, venvBin } from './python.ts';

export const DUCKDB_VERSION = '1.5.5';
export const DUCKDB_PLATFORM = 'linux_amd64';
/** avro before iceberg and httpfs before ATTACH: without them DuckDB tries to download them. */
export const DUCKDB_EXTENSIONS = ['httpfs', 'avro', 'iceberg'] as const;

export function duckdbExtensionDir(config: Config): string {
  return cachePath(config, 'duckdb-ext', 'extensions');
}

function platformDir(config: Config): string {
  return path.join(duckdbExtensionDir(config), `v${DUCKDB_VERSION}`, DUCKDB_PLATFORM);
}

export function duckdbExtensionsReady(config: Config): boolean {
  return existsSync(path.join(platformDir(config), '.complete'));
}

/** Downloads and unpacks the pinned extension wheels once. */
export async function ensureDuckdbExtensions(config: Config): Promise<void> {
  if (duckdbExtensionsReady(config)) return;
  await ensureVenv(config);
  const wheels = cachePath(config, 'duckdb-ext', 'wheels');
  const unpacked = cachePath(config, 'duckdb-ext', 'unpacked');
  await run(
    venvBin(config, 'pip'),
    ['download', '--quiet', '--disable-pip-version-check', '--no-deps', '-d', wheels, ...DUCKDB_EXTENSIONS.map((n) => `duckdb-extension-${n}==${DUCKDB_VERSION}`)],
    { what: 'pip download of the DuckDB extension wheels' },
  );
  mkdirSync(platformDir(config), { recursive: true });
  for (const name of DUCKDB_EXTENSIONS) {
    const wheel = readdirSync(wheels).find((f) => f.startsWith(`duckdb_extension_${name}-${DUCKDB_VERSION}`) && f.endsWith('.whl'));
    if (!wheel) throw new Error(`wheel of DuckDB extension ${name} ${DUCKDB_VERSION} not found in ${wheels}`);
    await run(venvBin(config, 'python'), ['-m', 'zipfile', '-e', path.join(wheels, wheel), unpacked], { what: `unpack ${wheel}` });
    const file = path.join(unpacked, `duckdb_extension_${name}`, 'extensions', `v${DUCKDB_VERSION}`, `${name}.duckdb_extension`);
    copyFileSync(file, path.join(platformDir(config), `${name}.duckdb_extension`));
  }
  writeFileSync(path.join(platformDir(config), '.complete'), new Date().toISOString());
}
