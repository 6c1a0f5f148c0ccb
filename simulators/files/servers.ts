/**
 * Sources A and B as their providers would run them: a real FTP server and an HTTP file
 * server over one folder, on loopback. Tests start them on port 0; the demo and developers
 * run them as a process:
 *
 *   npx tsx simulators/files/servers.ts --root DIR [--ftp-port 2121] [--http-port 8700]
 *     [--host 127.0.0.1] [--user tempolake] [--password tempolake] [--drop-after-bytes N]
 *
 * It prints the two URLs and stops on SIGTERM or Ctrl-C. Put the day's files in
 * `DIR/source_a/` and `DIR/source_b/` (see generate.ts) to match the default source URLs.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from '../../lib/config.ts';
import { startFtpFileServer } from './ftp-file-server.ts';
import { startHttpFileServer, type RunningFileServer } from './http-file-server.ts';

export interface FileSourceFaults {
  /** The first download of each file (FTP and HTTP alike) is cut after this many bytes; later ones succeed. */
  readonly dropAfterBytes?: number;
}

export interface FileSourceServerOptions {
  /** Folder served read-only by both servers. */
  readonly rootDir: string;
  /** 0 (default): any free port. */
  readonly ftpPort?: number;
  /** 0 (default): any free port. */
  readonly httpPort?: number;
  /** Default 127.0.0.1; FTP passive ports bind to the same address. */
  readonly host?: string;
  /** FTP login; default `tempolake`. Anonymous login is off. */
  readonly ftpUser?: string;
  /** FTP password; default `tempolake`. */
  readonly ftpPassword?: string;
  readonly faults?: FileSourceFaults;
  /** A Python with pyftpdlib; default: the project's cache virtualenv (installed on first use). */
  readonly python?: string;
  /** Settings for the cache virtualenv; default: `loadConfig()`. */
  readonly config?: Config;
  /** Receives the FTP server's log lines. */
  readonly log?: (line: string) => void;
}

export interface FileSourceServers {
  /** `ftp://user:password@host:port/`: the folder URL a FileSourceSpec takes, credentials included. */
  readonly ftpUrl: string;
  /** `http://host:port/`. */
  readonly httpUrl: string;
  readonly ftp: { readonly host: string; readonly port: number; readonly user: string; readonly password: string };
  readonly http: { readonly host: string; readonly port: number };
  /** Stops both servers. */
  close(): Promise<void>;
}

/** Starts the FTP and HTTP servers over `rootDir`; resolves once both listen. */
export async function startFileSourceServers(opts: FileSourceServerOptions): Promise<FileSourceServers> {
  const host = opts.host ?? '127.0.0.1';
  const user = opts.ftpUser ?? 'tempolake';
  const password = opts.ftpPassword ?? 'tempolake';
  const dropAfterBytes = opts.faults?.dropAfterBytes;
  const config = opts.python === undefined ? (opts.config ?? loadConfig()) : undefined;

  const ftp = await startFtpFileServer(
    { rootDir: opts.rootDir, host, port: opts.ftpPort ?? 0, user, password, dropAfterBytes, python: opts.python, log: opts.log },
    config,
  );
  let http: RunningFileServer;
  try {
    http = await startHttpFileServer({ rootDir: opts.rootDir, host, port: opts.httpPort ?? 0, dropAfterBytes });
  } catch (err) {
    await ftp.close();
    throw err;
  }
  const ftpUrl = new URL(ftp.url);
  ftpUrl.username = encodeURIComponent(user);
  ftpUrl.password = encodeURIComponent(password);
  return {
    ftpUrl: ftpUrl.href,
    httpUrl: http.url,
    ftp: { host, port: ftp.port, user, password },
    http: { host, port: http.port },
    close: async () => {
      await Promise.all([ftp.close(), http.close()]);
    },
  };
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      root: { type: 'string' },
      'ftp-port': { type: 'string', default: '2121' },
      'http-port': { type: 'string', default: '8700' },
      host: { type: 'string', default: '127.0.0.1' },
      user: { type: 'string', default: 'tempolake' },
      password: { type: 'string', default: 'tempolake' },
      'drop-after-bytes': { type: 'string' },
    },
  });
  if (!values.root) {
    console.error('usage: servers.ts --root DIR [--ftp-port 2121] [--http-port 8700] [--host 127.0.0.1] [--user U] [--password P] [--drop-after-bytes N]');
    return 2;
  }
  const servers = await startFileSourceServers({
    rootDir: values.root,
    ftpPort: Number(values['ftp-port']),
    httpPort: Number(values['http-port']),
    host: values.host,
    ftpUser: values.user,
    ftpPassword: values.password,
    faults: values['drop-after-bytes'] === undefined ? undefined : { dropAfterBytes: Number(values['drop-after-bytes']) },
    log: (line) => console.error(line),
  });
  console.log(`FTP  ${servers.ftpUrl}`);
  console.log(`HTTP ${servers.httpUrl}`);
  console.log(`serving ${values.root} read-only; stop with Ctrl-C or SIGTERM`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await servers.close();
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
