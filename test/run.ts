/**
 * `npm test`: starts the local servers through the same provisioning code as
 * `lake infra up`, runs every test file with Node's test runner, then stops the
 * servers this run started (ones that were already running are left alone).
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../lib/config.ts';
import { infraDown, infraUp, services } from '../lib/infra/index.ts';

const testDir = path.dirname(fileURLToPath(import.meta.url));

function testFiles(filter: string[]): string[] {
  const all = (readdirSync(testDir, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => path.join(testDir, f))
    .sort();
  return filter.length === 0 ? all : all.filter((f) => filter.some((pattern) => f.includes(pattern)));
}

async function main(): Promise<number> {
  const files = testFiles(process.argv.slice(2));
  if (files.length === 0) {
    console.error('no test files matched');
    return 1;
  }
  // Tests load warehouses of their own: never the `tempolake` database a developer loaded.
  process.env['POSTGRES_DB'] ||= 'tempolake_test';
  const config = loadConfig();
  const t0 = Date.now();
  console.log('Starting local servers for the tests…');
  // Every server, the on-demand ones (Kubernetes) too: the tests use them all.
  const started = await infraUp(config, (line) => console.log(line), services.map((s) => s.name));
  console.log(`servers ready in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);

  let code = 1;
  try {
    code = await new Promise<number>((resolve) => {
      // One file at a time: the servers are shared and the machine has 2 cores.
      const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=600000', ...files], {
        stdio: 'inherit',
      });
      child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
    });
  } finally {
    if (started.length > 0 && process.env['TEMPOLAKE_KEEP_INFRA'] !== '1') {
      console.log(`\nStopping servers this run started: ${started.join(', ')}`);
      await infraDown(config, (line) => console.log(line), started);
    }
  }
  return code;
}

process.exitCode = await main();
