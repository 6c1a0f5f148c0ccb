/**
 * The FTP delivery side of sources A and B: pyftpdlib (ftp_server.py beside this file) as a
 * child process. Chosen over a Node FTP server because it is the long-standing reference
 * implementation, binds passive ports to the control connection's address by itself, and
 * has no dependencies; ftp-srv, the Node option, pulls in 50 packages including `ip` 1.x
 * (a published advisory) and an install-script package. The Python lives in the project's
 * cache virtualenv next to the Temporal CLI; `pyftpdlib` is pip-installed there on first use.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Config } from '../../lib/config.ts';
import { pipInstall, venvBin } from '../../lib/infra/python.ts';
import type { RunningFileServer } from './http-file-server.ts';

const execFileAsync = promisify(execFile);

/** The pinned FTP server package. */
export const PYFTPDLIB_REQUIREMENT = 'pyftpdlib==2.2.0';

const SERVER_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'ftp_server.py');
const START_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 5_000;
const STDERR_TAIL_LINES = 30;

export interface FtpFileServerOptions {
  readonly rootDir: string;
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** Cut the first download of each file after this many bytes (both connections reset). */
  readonly dropAfterBytes?: number;
  /** A Python with pyftpdlib; default: the cache virtualenv (installed on first use). */
  readonly python?: string;
  /** Receives the server's log lines (stderr). */
  readonly log?: (line: string) => void;
}

export class FtpServerStartError extends Error {
  override name = 'FtpServerStartError';
}

/** The cache virtualenv's Python, with pyftpdlib installed into it when missing. */
export async function ftpServerPython(config: Config): Promise<string> {
  const python = venvBin(config, 'python');
  if (existsSync(python)) {
    const has = await execFileAsync(python, ['-c', 'import pyftpdlib']).then(
      () => true,
      () => false,
    );
    if (has) return python;
  }
  await pipInstall(config, [PYFTPDLIB_REQUIREMENT]);
  return python;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.stdin?.end();
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Starts pyftpdlib on `host:port` and resolves once it listens. */
export async function startFtpFileServer(opts: FtpFileServerOptions, config?: Config): Promise<RunningFileServer> {
  let python = opts.python;
  if (python === undefined) {
    if (config === undefined) throw new FtpServerStartError('startFtpFileServer needs either opts.python or a Config for the cache virtualenv');
    python = await ftpServerPython(config);
  }
  const args = [SERVER_SCRIPT, '--root', path.resolve(opts.rootDir), '--host', opts.host, '--port', String(opts.port), '--user', opts.user, '--exit-on-stdin-eof'];
  if (opts.dropAfterBytes !== undefined && opts.dropAfterBytes > 0) args.push('--drop-after-bytes', String(opts.dropAfterBytes));
  // -u: unbuffered, so the port line and log lines arrive when written.
  const child = spawn(python, ['-u', ...args], {
    env: { ...process.env, TEMPOLAKE_FTP_PASSWORD: opts.password },
    stdio: ['pipe', 'pipe', 'pipe'],
  });

  const { stdout, stderr } = child;
  if (stdout === null || stderr === null) throw new FtpServerStartError('FTP server started without output pipes');
  const stderrTail: string[] = [];
  createInterface({ input: stderr }).on('line', (line) => {
    stderrTail.push(line);
    if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
    opts.log?.(line);
  });
  const describeFailure = (what: string): string => `FTP server ${what}${stderrTail.length ? `:\n${stderrTail.join('\n')}` : ''}`;

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new FtpServerStartError(describeFailure(`did not start within ${START_TIMEOUT_MS / 1000} s`))), START_TIMEOUT_MS);
    const lines = createInterface({ input: stdout });
    lines.once('line', (line) => {
      clearTimeout(timer);
      try {
        resolve((JSON.parse(line) as { port: number }).port);
      } catch {
        reject(new FtpServerStartError(describeFailure(`printed "${line}" instead of its port`)));
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new FtpServerStartError(describeFailure(`could not be started with ${python}: ${err.message}`)));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      // Give the stderr reader a moment to collect the traceback before reporting it.
      setTimeout(() => reject(new FtpServerStartError(describeFailure(`exited during start-up (${signal ?? `code ${code}`})`))), 50);
    });
  }).catch(async (err: unknown) => {
    await stopChild(child);
    throw err;
  });

  const hostInUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return { url: `ftp://${hostInUrl}:${port}/`, host: opts.host, port, close: () => stopChild(child) };
}
