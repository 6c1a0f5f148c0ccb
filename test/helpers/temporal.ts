/**
 * Temporal for tests: a fresh dev server per test file from the real CLI binary
 * (`TestWorkflowEnvironment.createLocal` with the cached executable; the SDK's own
 * download is refused offline), watched so that a server that dies mid-test fails
 * the test at once with a clear error instead of leaving it waiting on retries.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker, WorkflowBundle } from '@temporalio/worker';
import { loadConfig, type Config } from '../../lib/config.ts';
import { isAlive } from '../../lib/infra/process.ts';
import { ensureTemporalCli } from '../../lib/infra/services/temporal.ts';
import { searchAttributeKeys } from '../../lib/temporal/search-attributes.ts';
import { TASK_QUEUES } from '../../lib/temporal/task-queues.ts';
import { createWorkerDeps, type WorkerDeps } from '../../workers/deps.ts';
import { bundleWorkflows, createWorker, installWorkerRuntime, runWorkersUntil } from '../../workers/worker.ts';

export class TemporalServerDiedError extends Error {
  override name = 'TemporalServerDiedError';
}

export interface TemporalTestServer {
  readonly env: TestWorkflowEnvironment;
  /** Client for tests: a short gRPC retry budget, so calls to a dead server give up in about a second. */
  readonly client: Client;
  readonly config: Config;
  /** Pid of the dev server process the SDK spawned. */
  readonly pid: number;
  /** Resolves `work`, or rejects with TemporalServerDiedError as soon as the server process is gone. */
  guard<T>(work: Promise<T>): Promise<T>;
  /** Runs `work` with a worker on every task queue, guarded against the server dying; `taskQueue` is the ingest queue. */
  withWorker<T>(work: (taskQueue: string) => Promise<T>): Promise<T>;
  teardown(): Promise<void>;
}

/** The child process of ours running `executable` — the server the SDK just started. */
function findChildProcess(executable: string, known: ReadonlySet<number>): number | undefined {
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || known.has(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && readlinkSync(`/proc/${pid}/exe`) === executable) return pid;
    } catch {
      /* process gone or not ours */
    }
  }
  return undefined;
}

function childPids(): Set<number> {
  return new Set(readdirSync('/proc').map(Number).filter(Number.isInteger));
}

let bundle: Promise<WorkflowBundle> | undefined;

const TEST_CLIENT_ATTEMPTS = 4;
/** Upper bound of the backoff of TEST_CLIENT_ATTEMPTS attempts (100 ms × 1.7^n, jittered). */
const TEST_CLIENT_RETRY_BUDGET_MS = 2_000;

/** `config` is what the worker's clients use (defaults to the environment's). */
export async function startTemporalTestServer(config: Config = loadConfig()): Promise<TemporalTestServer> {
  const executable = await ensureTemporalCli(config);
  installWorkerRuntime();
  const before = childPids();
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: executable },
      ip: '127.0.0.1',
      searchAttributes: [...searchAttributeKeys],
    },
  });
  const pid = findChildProcess(realpathSync(executable), before);
  if (pid === undefined) {
    await env.teardown();
    throw new Error(`started a Temporal dev server from ${executable} but could not find its process`);
  }

  const connection = await Connection.connect({
    address: env.address,
    interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: TEST_CLIENT_ATTEMPTS }))],
  });
  const client = new Client({ connection, namespace: env.namespace ?? 'default' });
  let onDeath: (err: Error) => void = () => undefined;
  const died = new Promise<never>((_, reject) => {
    onDeath = reject;
  });
  died.catch(() => undefined);
  const serverGone = (): boolean => !isAlive(pid) || isZombie(pid);
  const watchdog = setInterval(() => {
    if (serverGone()) {
      clearInterval(watchdog);
      onDeath(new TemporalServerDiedError(`Temporal dev server (pid ${pid}) exited during the test; every call to it would only retry`));
    }
  }, 200);
  watchdog.unref();

  const guard = <T>(work: Promise<T>): Promise<T> => Promise.race([work, died]);
  let deps: WorkerDeps | undefined;

  return {
    env,
    client,
    config,
    pid,
    guard,
    async withWorker(work) {
      deps ??= createWorkerDeps(config);
      bundle ??= bundleWorkflows();
      const workflowBundle = await bundle;
      const workerDeps = deps;
      // Each test file has a server of its own, so the real queue names cannot collide.
      const workers: Worker[] = await Promise.all(
        Object.values(TASK_QUEUES).map((taskQueue) =>
          createWorker({ connection: env.nativeConnection, namespace: env.namespace ?? 'default', taskQueue, deps: workerDeps, workflowBundle }),
        ),
      );
      const outcome = work(TASK_QUEUES.ingest);
      // Once the server is gone, `outcome` can only fail later; that must not surface after the test ends.
      outcome.catch(() => undefined);
      const running = runWorkersUntil(workers, outcome);
      running.catch(() => undefined);
      try {
        return await guard(running);
      } catch (err) {
        if (err instanceof TemporalServerDiedError) {
          for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
          await Promise.race([running.catch(() => undefined), sleep(15_000)]);
        }
        throw err;
      }
    },
    async teardown() {
      clearInterval(watchdog);
      // The SDK's retry timers outlive a cancelled call: let their short budget run out
      // before closing the channel, or they fire on it after the test has ended.
      if (serverGone()) await sleep(TEST_CLIENT_RETRY_BUDGET_MS);
      await connection.close();
      await deps?.close();
      await env.teardown();
    },
  };
}

/** A killed child stays a zombie until its parent reaps it; count it as dead. */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** `config` with its Temporal address and namespace pointed at the test server (for the API's client). */
export function configForTestServer(config: Config, temporal: TemporalTestServer): Config {
  const [host, port] = temporal.env.address.split(':');
  return { ...config, temporalAddress: { host: host as string, port: Number(port) }, temporalNamespace: temporal.env.namespace ?? 'default' };
}
