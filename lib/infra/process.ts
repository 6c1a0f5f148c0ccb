/**
 * Background server processes: started detached with a pid file and a log file,
 * so `lake infra` in one shell and `lake infra down` in another see the same servers.
 */
import { spawn, execFile } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export class InfraError extends Error {
  override name = 'InfraError';
}

export interface DaemonSpec {
  /** Folder holding `pid` and `server.log`. */
  readonly dir: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export function pidFile(dir: string): string {
  return path.join(dir, 'pid');
}

export function logFile(dir: string): string {
  return path.join(dir, 'server.log');
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid recorded in `dir` if that process still runs. */
export function runningPid(dir: string): number | undefined {
  const file = pidFile(dir);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
}

/** Starts a detached process group that outlives this CLI; output goes to the log file. */
export function startDaemon(spec: DaemonSpec): number {
  mkdirSync(spec.dir, { recursive: true });
  const log = openSync(logFile(spec.dir), 'a');
  try {
    const child = spawn(spec.command, [...spec.args], {
      cwd: spec.cwd ?? spec.dir,
      env: spec.env ?? process.env,
      detached: true,
      stdio: ['ignore', log, log],
    });
    if (child.pid === undefined) throw new InfraError(`could not start ${spec.command}`);
    child.unref();
    writeFileSync(pidFile(spec.dir), `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/** SIGTERM to the process group, SIGKILL after the grace period. */
export async function stopProcess(pid: number, graceMs = 15_000): Promise<void> {
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) {
    signal('SIGKILL');
    while (isAlive(pid)) await sleep(50);
  }
}

export async function stopDaemon(dir: string): Promise<boolean> {
  const pid = runningPid(dir);
  if (pid === undefined) return false;
  await stopProcess(pid);
  rmSync(pidFile(dir), { force: true });
  return true;
}

export function tailLog(dir: string, lines = 15): string {
  const file = logFile(dir);
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * Polls `ready` until it answers true. Fails fast, with the log's tail, when the
 * process dies first — a crashed server must not look like a slow one.
 */
export async function waitUntilReady(opts: {
  name: string;
  ready: () => Promise<boolean>;
  pid?: number;
  logDir?: string;
  timeoutMs: number;
}): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  const logHint = (): string => (opts.logDir ? `\n--- ${logFile(opts.logDir)} (tail) ---\n${tailLog(opts.logDir)}` : '');
  for (;;) {
    if (opts.pid !== undefined && !isAlive(opts.pid)) {
      throw new InfraError(`${opts.name} exited during start-up${logHint()}`);
    }
    if (await opts.ready().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new InfraError(`${opts.name} not ready after ${Math.round(opts.timeoutMs / 1000)} s${logHint()}`);
    }
    await sleep(250);
  }
}

/** Runs a command to completion; failure carries its output so the user sees why. */
export async function run(
  command: string,
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; what: string },
): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, [...args], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    const out = `${e.stdout ?? ''}${e.stderr ?? ''}`.trim().split('\n').slice(-20).join('\n');
    throw new InfraError(`${opts.what} failed: ${e.message.split('\n')[0]}\n${out}`);
  }
}

/** Absolute path of a program on PATH, or undefined. */
export async function which(program: string): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync('sh', ['-c', `command -v ${program}`]);
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The path of a required tool, or an error that names it and how to get it. */
export async function requireTool(program: string, purpose: string, install: string): Promise<string> {
  const found = await which(program);
  if (!found) throw new InfraError(`\`${program}\` is needed ${purpose} but is not on PATH. ${install}`);
  return found;
}

/** Resolves true when a TCP port accepts connections. */
export async function portOpen(host: string, port: number): Promise<boolean> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** A TCP port that was free a moment ago on 127.0.0.1 (for servers started by tests). */
export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
