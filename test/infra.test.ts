/** `lake infra`: idempotent start, status of every server, and failures that say why. */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../lib/config.ts';
import { infraStatus, infraUp, services } from '../lib/infra/index.ts';
import { InfraError, requireTool, startDaemon, waitUntilReady } from '../lib/infra/process.ts';

describe('infra', () => {
  const config = loadConfig();

  it('every server is up and answering (the test runner started them through infraUp)', async () => {
    const statuses = await infraStatus(config);
    assert.deepEqual(
      statuses.map((s) => [s.name, s.running]),
      [['temporal', true], ['minio', true], ['kafka', true], ['postgres', true], ['kubernetes', true], ['iceberg', true], ['sources', true], ['weather', true], ['market', true]],
    );
    assert.ok(statuses.find((s) => s.name === 'temporal')?.notes.some((n) => n.includes(`:${config.temporalUiPort}/`)));
  });

  it('infra up a second time starts nothing and keeps the same processes', async () => {
    const before = await infraStatus(config);
    const lines: string[] = [];
    const started = await infraUp(config, (l) => lines.push(l), services.map((s) => s.name));
    assert.deepEqual(started, []);
    assert.equal(lines.filter((l) => l.includes('already running')).length, services.length, lines.join('\n'));
    // Unnamed, `up` leaves the on-demand servers out (a first demo need not build Kubernetes).
    const plain: string[] = [];
    await infraUp(config, (l) => plain.push(l));
    assert.ok(!plain.some((l) => l.includes('kubernetes')), plain.join('\n'));
    assert.equal(plain.filter((l) => l.includes('already running')).length, services.filter((s) => !s.onDemand).length);
    const after = await infraStatus(config);
    assert.deepEqual(after.map((s) => s.pid), before.map((s) => s.pid));
  });

  it('a server that dies while starting fails at once with its log, not after the timeout', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tempolake-daemon-'));
    const pid = startDaemon({ dir, command: 'sh', args: ['-c', 'echo "port already in use" >&2; exit 3'] });
    const t0 = Date.now();
    await assert.rejects(
      waitUntilReady({ name: 'fake', pid, logDir: dir, timeoutMs: 60_000, ready: async () => false }),
      (err: unknown) => err instanceof InfraError && /fake exited during start-up/.test(err.message) && /port already in use/.test(err.message),
    );
    assert.ok(Date.now() - t0 < 10_000);
  });

  it('a missing tool is named with how to install it', async () => {
    await assert.rejects(
      requireTool('tempolake-no-such-tool', 'to build things', 'Install it with apt.'),
      /`tempolake-no-such-tool` is needed to build things but is not on PATH\. Install it with apt\./,
    );
  });
});
