/**
 * PostgreSQL from Debian's packages as the local warehouse. A cluster of the
 * project's own (data and socket folders under the data dir, non-default port)
 * so the package's default cluster is left alone. initdb and pg_ctl refuse to
 * run as root, so as root they run as the `postgres` user.
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { isLocalHost, type Config } from '../../config.ts';
import { postgresClientConfig } from '../../clients/postgres.ts';
import { serverDir } from '../paths.ts';
import { InfraError, isAlive, run } from '../process.ts';
import type { InfraContext, LocalService, ServiceStatus } from '../service.ts';

const PG_ROOT = '/usr/lib/postgresql';
/** Group role that per-customer roles join (warehouse issue); created with the database. */
export const CUSTOMERS_ROLE = 'tempolake_customers';

function pgBinDir(): string | undefined {
  if (!existsSync(PG_ROOT)) return undefined;
  const versions = readdirSync(PG_ROOT)
    .filter((v) => existsSync(path.join(PG_ROOT, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(PG_ROOT, versions[0], 'bin') : undefined;
}

function requirePgBin(): string {
  const bin = pgBinDir();
  if (!bin) throw new InfraError(`PostgreSQL server binaries not found under ${PG_ROOT}: run as root so \`lake infra up\` can apt-get install postgresql, or install it yourself.`);
  return bin;
}

const runsAsRoot = (): boolean => process.getuid?.() === 0;

/** The command line that runs a PostgreSQL tool as a user it accepts. */
function asPostgresUser(command: string, args: readonly string[]): [string, string[]] {
  return runsAsRoot() ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, [...args]];
}

async function pgRun(command: string, args: readonly string[], what: string): Promise<string> {
  const [cmd, argv] = asPostgresUser(command, args);
  return run(cmd, argv, { what, cwd: '/' });
}

function postmasterPid(dataDir: string): number | undefined {
  const file = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
  return Number.isInteger(pid) && isAlive(pid) ? pid : undefined;
}

async function postgresReady(config: Config, database = 'postgres'): Promise<boolean> {
  const client = new pg.Client(postgresClientConfig(config, database));
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function createDatabaseAndRoles(config: Config): Promise<void> {
  const admin = new pg.Client(postgresClientConfig(config, 'postgres'));
  await admin.connect();
  try {
    const db = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [config.postgresDatabase]);
    if (db.rowCount === 0) {
      // CREATE DATABASE takes no bind parameters; the name is quoted as an identifier.
      await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(config.postgresDatabase)}`);
    }
    const role = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [CUSTOMERS_ROLE]);
    if (role.rowCount === 0) await admin.query(`CREATE ROLE ${pg.escapeIdentifier(CUSTOMERS_ROLE)} NOLOGIN`);
  } finally {
    await admin.end();
  }
}

export const postgresService: LocalService = {
  name: 'postgres',
  managed: (config) => isLocalHost(config.postgresHost),

  async provision({ progress }: InfraContext) {
    if (pgBinDir()) return;
    if (!runsAsRoot()) requirePgBin();
    progress('installing PostgreSQL from Debian packages (apt-get install postgresql)');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    await run('apt-get', ['update', '-q'], { what: 'apt-get update', env });
    await run('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'postgresql'], { what: 'apt-get install postgresql', env });
    requirePgBin();
  },

  async start({ config }: InfraContext) {
    const bin = requirePgBin();
    const dir = serverDir(config, 'postgres');
    const data = path.join(dir, 'data');
    const sockets = path.join(dir, 'run');
    mkdirSync(sockets, { recursive: true });
    if (runsAsRoot()) {
      await run('chown', ['-R', 'postgres:', dir], { what: `chown postgres ${dir}` });
      await pgRun('test', ['-w', dir], 'access check').catch(() => {
        throw new InfraError(`PostgreSQL runs as the postgres user, which cannot write ${dir}: make its parent folders world-executable or set TEMPOLAKE_DATA_DIR elsewhere.`);
      });
    }
    if (!existsSync(path.join(data, 'PG_VERSION'))) {
      const pwfile = path.join(dir, 'initdb.pw');
      writeFileSync(pwfile, `${config.postgresPassword}\n`, { mode: 0o600 });
      if (runsAsRoot()) await run('chown', ['postgres:', pwfile], { what: 'chown pwfile' });
      try {
        await pgRun(path.join(bin, 'initdb'), [
          '-D', data, '-U', config.postgresUser, `--pwfile=${pwfile}`,
          '--auth-host=scram-sha-256', '--auth-local=peer', '-E', 'UTF8', '--locale=C.UTF-8',
        ], 'initdb');
      } finally {
        rmSync(pwfile, { force: true });
      }
    }
    if (postmasterPid(data) === undefined) {
      const opts = `-p ${config.postgresPort} -k ${sockets} -c listen_addresses=${config.postgresHost}`;
      await pgRun(path.join(bin, 'pg_ctl'), ['-D', data, '-l', path.join(dir, 'server.log'), '-o', opts, '-w', '-t', '60', 'start'], 'pg_ctl start');
    }
    if (!(await postgresReady(config))) throw new InfraError(`PostgreSQL started but does not accept ${config.postgresUser}@${config.postgresHost}:${config.postgresPort}; see ${path.join(dir, 'server.log')}`);
    await createDatabaseAndRoles(config);
  },

  async stop({ config }: InfraContext) {
    const data = path.join(serverDir(config, 'postgres'), 'data');
    if (postmasterPid(data) === undefined) return false;
    await pgRun(path.join(requirePgBin(), 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop'], 'pg_ctl stop');
    return true;
  },

  async status(config): Promise<ServiceStatus> {
    const pid = postmasterPid(path.join(serverDir(config, 'postgres'), 'data'));
    return {
      name: 'postgres',
      address: `postgres://${config.postgresUser}@${config.postgresHost}:${config.postgresPort}/${config.postgresDatabase}`,
      managed: this.managed(config),
      running: await postgresReady(config),
      ...(pid !== undefined ? { pid } : {}),
      notes: [],
    };
  },
};
