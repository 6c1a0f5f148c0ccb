/**
 * Source C's history backfill against the local simulator: hours ingested per second for
 * years × regions, beside a baseline in the same process — the same archive requests made
 * straight with the weather client (no Temporal, no lake) — and the Temporal history size
 * of the largest workflow run.
 *
 *   npx tsx bench/weather-backfill.ts [--from 2011-01-01] [--to 2025-12-31] [--regions 20] [--concurrency 4]
 *   npm run bench:weather
 *
 * Temporal: a dev server of its own from the cached CLI (as the tests use); the lake: a
 * test lake (own REST catalog, warehouse in a temp folder); the API: the simulator
 * in-process, with the client's rate cap lifted (the simulator has no quota).
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import protos from '@temporalio/proto';
import { loadConfig } from '../lib/config.ts';
import { mapBounded } from '../lib/temporal/bounded.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import { hoursInDays, yearRanges } from '../lib/time/hours.ts';
import { createWeatherClient } from '../lib/weather/open-meteo.ts';
import { readRegionsFile } from '../lib/weather/regions.ts';
import { startWeatherSimulator } from '../simulators/weather/server.ts';
import { startTestLake, weatherLakeEnv } from '../test/helpers/lake.ts';
import { startTemporalTestServer } from '../test/helpers/temporal.ts';
import { backfillWeather, weatherBackfillProgressQuery, weatherBackfillWorkflowId } from '../workflows/weather.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    from: { type: 'string', default: '2011-01-01' },
    to: { type: 'string', default: '2025-12-31' },
    regions: { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '4' },
  },
});
const secs = (ms: number): string => (ms / 1000).toFixed(1);
const rate = (n: number, ms: number): string => Math.round(n / (ms / 1000)).toLocaleString('en-US');

const loadAtStart = loadavg()[0] ?? 0;
const sim = await startWeatherSimulator({ now: () => new Date('2026-11-25T12:00:00Z') });
const lake = await startTestLake();
const allRegions = await readRegionsFile(loadConfig().regionsFile);
const regions = allRegions.slice(0, Number(values.regions));
const config = loadConfig({
  ...process.env,
  ...weatherLakeEnv(
    lake,
    sim.url,
    regions.map(({ metadata, ...r }) => ({ ...r, ...metadata })),
  ),
  WEATHER_REQUESTS_PER_MINUTE: '1000000',
});
const from = values.from;
const to = values.to;
const concurrency = Number(values.concurrency);
const hoursTotal = hoursInDays(from, to) * regions.length;
const years = yearRanges(from, to);
console.log(`${regions.length} regions × ${years.length} years (${from}..${to}) = ${hoursTotal.toLocaleString('en-US')} region-hours; ${cpus().length} cores`);

const figures: [string, string][] = [];
const temporal = await startTemporalTestServer(config);
try {
  // Baseline: the same requests, straight, as many in flight as the backfill has (children × requests per child).
  const client = createWeatherClient({
    forecastUrl: config.weatherForecastUrl,
    archiveUrl: config.weatherArchiveUrl,
    timeoutMs: config.weatherTimeoutMs,
    maxAttempts: config.weatherMaxAttempts,
    requestsPerMinute: config.weatherRequestsPerMinute,
  });
  const t0 = performance.now();
  let bytes = 0;
  await mapBounded(
    years.flatMap((y) => regions.map((r) => ({ y, r }))),
    concurrency * 4,
    async ({ y, r }) => {
      const answer = await client.archive({ latitude: r.latitude, longitude: r.longitude }, y.from, y.to);
      bytes += Buffer.byteLength(answer.body);
    },
  );
  const baseMs = performance.now() - t0;
  console.log(`baseline: ${years.length * regions.length} archive requests straight from the client in ${secs(baseMs)} s (${(bytes / 1e6).toFixed(0)} MB)`);

  // Ours: the backfill workflow, end to end into the lake.
  const input = { from, to, concurrency };
  const workflowId = weatherBackfillWorkflowId(input);
  const t1 = performance.now();
  const state = await temporal.withWorker(async (taskQueue) => {
    const handle = await temporal.client.workflow.start(backfillWeather, { taskQueue, workflowId, args: [input] });
    const timer = setInterval(() => {
      void handle
        .query(weatherBackfillProgressQuery)
        .then((p) => process.stderr.write(`  ${secs(performance.now() - t1)} s: ${p.succeeded}/${p.total} region-years, ${p.hours.toLocaleString('en-US')} hours\n`))
        .catch(() => undefined);
    }, 10_000);
    try {
      return await handle.result();
    } finally {
      clearInterval(timer);
    }
  });
  const oursMs = performance.now() - t1;
  if (state.failed.length > 0) throw new Error(`backfill failed: ${JSON.stringify(state.failed)}`);

  // The largest history among every run the backfill made (parent runs and children).
  let largest = { id: '', events: 0, bytes: 0 };
  let runs = 0;
  for await (const execution of temporal.client.workflow.list()) {
    runs++;
    const history = await temporal.client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    const size = protos.temporal.api.history.v1.History.encode(history).finish().length;
    if (size > largest.bytes) largest = { id: `${execution.workflowId} (${execution.type})`, events: history.events?.length ?? 0, bytes: size };
  }
  figures.push(
    ['region-hours', `${state.hours.toLocaleString('en-US')} of ${hoursTotal.toLocaleString('en-US')} (${years.length} yearly children × ${regions.length} regions)`],
    ['baseline: archive requests, no Temporal, no lake', `${secs(baseMs)} s, ${rate(hoursTotal, baseMs)} hours/s`],
    ['backfill → raw → curated → daily + rolling', `${secs(oursMs)} s, ${rate(state.hours, oursMs)} hours/s`],
    ['ours / baseline (hours/s)', `${(baseMs / oursMs).toFixed(2)}×`],
    ['workflow runs', `${runs}`],
    ['largest history', `${largest.events} events, ${(largest.bytes / 1024).toFixed(1)} KiB — ${largest.id}`],
    ['API requests (simulator)', `${sim.stats().requests} (${years.length * regions.length} by the baseline)`],
  );
} finally {
  await temporal.teardown();
  await sim.close();
  await lake.stop();
}
figures.push(['machine', `1-min load average ${loadAtStart.toFixed(2)} at start, ${(loadavg()[0] ?? 0).toFixed(2)} at end`]);
const width = Math.max(...figures.map(([k]) => k.length));
console.log(`\nweather backfill (npx tsx bench/weather-backfill.ts ${process.argv.slice(2).join(' ')})`.trimEnd());
for (const [k, v] of figures) console.log(`  ${k.padEnd(width)}  ${v}`);
