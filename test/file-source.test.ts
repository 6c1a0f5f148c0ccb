/**
 * Sources A and B end to end on this machine: generated delivery files, served by the real
 * FTP server (pyftpdlib) and the HTTP file server on random loopback ports, fetched by the
 * client the ingestion activity uses. Every check reads the bytes back itself.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { Client as FtpClient, FTPError } from 'basic-ftp';
import {
  downloadSourceFile,
  findSourceFiles,
  SourceAuthError,
  SourceConnectionError,
  SourceFileMissingError,
  SourceSpecError,
  type FileSourceSpec,
  type RemoteFile,
} from '../lib/sources/file-source.ts';
import { REGION_IDS } from '../simulators/files/customers.ts';
import { generateSourceFile, sourceFileName, type GenerateOptions } from '../simulators/files/generate.ts';
import { SOURCE_A_MALFORMED_KINDS, SOURCE_A_REQUIRED_FIELDS } from '../simulators/files/source-a.ts';
import { SOURCE_B_MALFORMED_KINDS } from '../simulators/files/source-b.ts';
import { startFileSourceServers, type FileSourceServers } from '../simulators/files/servers.ts';

const DAY = '2021-10-04';
const MISSING_DAY = '2021-10-05';
const FTP_USER = 'delivery';
// Distinct from the user name, so a leak in a message is a leak and not a coincidence.
const FTP_PASSWORD = 'Pa55-w0rd-xyz';
const DROP_AFTER_BYTES = 256 * 1024;

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** RFC 4180 fields of one line (quotes and doubled quotes), enough to check the generators. */
function csvFields(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      fields.push(field);
      field = '';
    } else field += ch;
  }
  fields.push(field);
  return fields;
}

const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function isTimestamp(value: unknown): boolean {
  if (typeof value !== 'string' || !ISO_WITH_OFFSET.test(value)) return false;
  // Date.parse rolls 2021-02-30 over to March: compare the date part back.
  const local = value.slice(0, 10);
  return !Number.isNaN(Date.parse(value)) && new Date(`${local}T00:00:00Z`).toISOString().startsWith(local);
}

/** What is wrong with one A line, judged independently of the generator. */
function judgeSourceALine(line: string): string | undefined {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return 'not_json';
  }
  if (SOURCE_A_REQUIRED_FIELDS.some((f) => !(f in record))) return 'missing_field';
  if (typeof record['amount'] !== 'number') return 'non_numeric_amount';
  if (!isTimestamp(record['event_time'])) return 'bad_timestamp';
  return undefined;
}

/** The IPv4 addresses listening on `port`, from /proc/net/tcp (and tcp6, which must have none). */
async function listeningAddresses(port: number): Promise<string[]> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const out: string[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const rows = (await readFile(table, 'utf8')).split('\n').slice(1);
    for (const cols of rows.map((l) => l.trim().split(/\s+/))) {
      const [addr, p] = (cols[1] ?? '').split(':');
      if (cols[3] !== '0A' || p !== hexPort || addr === undefined) continue;
      out.push(addr.length === 8 ? (addr.match(/../g) ?? []).reverse().map((h) => parseInt(h, 16)).join('.') : `[${addr}]`);
    }
  }
  return out;
}

/** Sends raw FTP commands one reply at a time and runs `inspect` before QUIT. */
async function ftpCommandReplies(port: number, commands: string[], inspect: (replies: string[]) => Promise<void>): Promise<string[]> {
  const socket = connect({ host: '127.0.0.1', port });
  const lines = createInterface({ input: socket })[Symbol.asyncIterator]();
  const nextReply = async (): Promise<string> => {
    for (;;) {
      const { value, done } = await lines.next();
      if (done) throw new Error('FTP server closed the connection');
      if (/^\d{3} /.test(value)) return value;
    }
  };
  try {
    const replies = [await nextReply()];
    for (const command of commands) {
      socket.write(`${command}\r\n`);
      replies.push(await nextReply());
    }
    await inspect(replies);
    socket.write('QUIT\r\n');
    return replies;
  } finally {
    socket.destroy();
  }
}

async function generate(dir: string, opts: Omit<GenerateOptions, 'out'>): Promise<string> {
  const out = path.join(dir, sourceFileName(opts.source, opts.day, opts.format));
  await generateSourceFile({ ...opts, out });
  return out;
}

function spec(url: string, pattern: string): FileSourceSpec {
  return { url, pattern, connectTimeoutMs: 5_000, idleTimeoutMs: 10_000 };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => assert.fail('expected a rejection'),
    (err: unknown) => {
      assert.ok(err instanceof Error, `expected an Error, got ${String(err)}`);
      return err;
    },
  );
}

describe('source A and B files: generators, FTP and HTTP servers, fetch client', () => {
  let root: string;
  let work: string;
  let servers: FileSourceServers;
  let faulty: FileSourceServers;
  let aFile: string;
  let bFile: string;

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tempolake-sources-'));
    work = await mkdtemp(path.join(tmpdir(), 'tempolake-downloads-'));
    aFile = await generate(path.join(root, 'source_a'), { source: 'a', day: DAY, records: 20_000, malformedRate: 0.001 });
    bFile = await generate(path.join(root, 'source_b'), { source: 'b', day: DAY, records: 5_000 });
    const credentials = { ftpUser: FTP_USER, ftpPassword: FTP_PASSWORD };
    servers = await startFileSourceServers({ rootDir: root, ...credentials });
    faulty = await startFileSourceServers({ rootDir: root, ...credentials, faults: { dropAfterBytes: DROP_AFTER_BYTES } });
  });

  after(async () => {
    await servers?.close();
    await faulty?.close();
    await rm(root, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  });

  describe('generators', () => {
    it('same seed gives the same bytes, another seed other bytes (A jsonl, A csv, B)', async () => {
      const dir = await mkdtemp(path.join(work, 'determinism-'));
      const cases: Omit<GenerateOptions, 'out' | 'seed'>[] = [
        { source: 'a', day: DAY, records: 3_000, format: 'jsonl', malformedRate: 0.01 },
        { source: 'a', day: DAY, records: 3_000, format: 'csv', malformedRate: 0.01 },
        { source: 'b', day: DAY, records: 3_000, malformedRate: 0.01 },
      ];
      for (const [i, c] of cases.entries()) {
        const first = await generateSourceFile({ ...c, seed: 7, out: path.join(dir, `${i}-first`) });
        const again = await generateSourceFile({ ...c, seed: 7, out: path.join(dir, `${i}-again`) });
        const other = await generateSourceFile({ ...c, seed: 8, out: path.join(dir, `${i}-other`) });
        const [h1, h2, h3] = await Promise.all([first, again, other].map((r) => sha256File(r.path)));
        assert.equal(h1, h2, `${c.source}/${c.format ?? 'csv'}: same seed, same sha256`);
        assert.notEqual(h1, h3, `${c.source}/${c.format ?? 'csv'}: another seed, another sha256`);
        assert.deepEqual(first.malformed, again.malformed);
      }
    });

    it('A jsonl: valid lines are well-formed events of the 3 days before the delivery day', async () => {
      const lines = (await readFile(aFile, 'utf8')).trimEnd().split('\n');
      assert.equal(lines.length, 20_000);
      const windowStart = Date.parse(`${DAY}T00:00:00Z`) - 3 * 86_400_000;
      const windowEnd = Date.parse(`${DAY}T00:00:00Z`);
      const ids = new Set<string>();
      for (const line of lines) {
        if (judgeSourceALine(line) !== undefined) continue;
        const e = JSON.parse(line) as {
          event_id: string;
          region: string;
          event_time: string;
          attributes: { device: string; campaign: { id: string; name: string } | null; tags: string[] };
        };
        ids.add(e.event_id);
        assert.ok(REGION_IDS.includes(e.region), e.region);
        const t = Date.parse(e.event_time);
        assert.ok(t >= windowStart && t < windowEnd, `${e.event_time} outside the lag window`);
        assert.ok(Array.isArray(e.attributes.tags) && typeof e.attributes.device === 'string');
        assert.ok(e.attributes.campaign === null || typeof e.attributes.campaign.name === 'string');
      }
      assert.ok(ids.size > 19_900, 'event ids are unique');
    });

    it('A jsonl: the malformed rate is roughly honoured and every kind is present and really broken', async () => {
      const dir = await mkdtemp(path.join(work, 'malformed-a-'));
      const records = 40_000;
      const rate = 0.02;
      const result = await generateSourceFile({ source: 'a', day: DAY, records, malformedRate: rate, out: path.join(dir, 'a.jsonl') });
      const judged: Record<string, number> = {};
      for (const line of (await readFile(result.path, 'utf8')).trimEnd().split('\n')) {
        const kind = judgeSourceALine(line);
        if (kind !== undefined) judged[kind] = (judged[kind] ?? 0) + 1;
      }
      const expected = records * rate;
      const total = Object.values(judged).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(total - expected) < expected * 0.2, `${total} malformed lines, expected about ${expected}`);
      for (const kind of SOURCE_A_MALFORMED_KINDS.jsonl) assert.ok((judged[kind] ?? 0) > 0, `kind ${kind} present`);
      assert.deepEqual(judged, result.malformed, 'what a reader finds broken is what the generator reports');
    });

    it('A csv: same events as the jsonl of the same seed, flat columns, malformed kinds present', async () => {
      const dir = await mkdtemp(path.join(work, 'malformed-a-csv-'));
      const common = { source: 'a', day: DAY, records: 10_000, malformedRate: 0.03, seed: 'csv' } as const;
      const csv = await generateSourceFile({ ...common, format: 'csv', out: path.join(dir, 'a.csv') });
      const jsonl = await generateSourceFile({ ...common, format: 'jsonl', out: path.join(dir, 'a.jsonl') });
      const [header, ...rows] = (await readFile(csv.path, 'utf8')).trimEnd().split('\n');
      const columns = csvFields(header ?? '');
      assert.deepEqual(columns.slice(0, 4), ['event_id', 'customer_id', 'region', 'event_time']);
      const judged: Record<string, number> = {};
      const jsonLines = (await readFile(jsonl.path, 'utf8')).trimEnd().split('\n');
      rows.forEach((row, i) => {
        const f = csvFields(row);
        const at = (name: string): string => f[columns.indexOf(name)] ?? '';
        const kind =
          f.length !== columns.length
            ? 'wrong_column_count'
            : SOURCE_A_REQUIRED_FIELDS.some((name) => at(name) === '')
              ? 'missing_field'
              : !/^-?\d+\.\d{2}$/.test(at('amount'))
                ? 'non_numeric_amount'
                : !isTimestamp(at('event_time'))
                  ? 'bad_timestamp'
                  : undefined;
        if (kind !== undefined) judged[kind] = (judged[kind] ?? 0) + 1;
        else {
          const event = JSON.parse(jsonLines[i] ?? '') as { event_id: string; amount: number };
          assert.equal(at('event_id'), event.event_id);
          assert.equal(Number(at('amount')), event.amount);
        }
      });
      for (const kind of SOURCE_A_MALFORMED_KINDS.csv) assert.ok((judged[kind] ?? 0) > 0, `kind ${kind} present`);
      assert.deepEqual(judged, csv.malformed);
    });

    it('B csv: updated_at only when asked, quoted names, wrong column counts and bad dates', async () => {
      const dir = await mkdtemp(path.join(work, 'malformed-b-'));
      for (const withTimestamp of [true, false]) {
        const result = await generateSourceFile({
          source: 'b',
          day: DAY,
          records: 8_000,
          malformedRate: 0.03,
          withTimestamp,
          out: path.join(dir, `b-${withTimestamp}.csv`),
        });
        const [header, ...rows] = (await readFile(result.path, 'utf8')).trimEnd().split('\n');
        const columns = csvFields(header ?? '');
        assert.equal(columns.includes('updated_at'), withTimestamp);
        assert.deepEqual(columns.slice(0, 6), ['customer_id', 'name', 'email', 'region', 'segment', 'signup_date']);
        const judged: Record<string, number> = {};
        let quotedNames = 0;
        for (const row of rows) {
          const f = csvFields(row);
          if (row.includes('"')) quotedNames++;
          const dates = [f[5] ?? '', ...(withTimestamp ? [f[6] ?? ''] : [])];
          const kind =
            f.length !== columns.length
              ? 'wrong_column_count'
              : !/^\d{4}-\d{2}-\d{2}$/.test(dates[0] ?? '') || !isTimestamp(`${dates[0]}T00:00:00Z`) || (withTimestamp && !isTimestamp(dates[1]))
                ? 'bad_date'
                : undefined;
          if (kind !== undefined) judged[kind] = (judged[kind] ?? 0) + 1;
        }
        for (const kind of SOURCE_B_MALFORMED_KINDS) assert.ok((judged[kind] ?? 0) > 0, `kind ${kind} present`);
        assert.deepEqual(judged, result.malformed);
        assert.ok(quotedNames > 0, 'some names need CSV quoting');
      }
    });
  });

  describe('findSourceFiles', () => {
    it('FTP: lists the folder, finds the day, [] for a day not delivered yet', async () => {
      const found = await findSourceFiles(spec(`${servers.ftpUrl}source_a/`, 'activity_{date}.jsonl'), DAY);
      const info = await stat(aFile);
      assert.equal(found.length, 1);
      const [file] = found as [RemoteFile];
      assert.equal(file.name, `activity_${DAY}.jsonl`);
      assert.equal(file.size, info.size);
      assert.ok(file.modifiedAt !== undefined && Math.abs(Date.parse(file.modifiedAt) - info.mtimeMs) < 2_000);
      assert.ok(!file.url.includes(FTP_PASSWORD), 'no password in the file URL');
      assert.deepEqual(await findSourceFiles(spec(`${servers.ftpUrl}source_a/`, 'activity_{date}.jsonl'), MISSING_DAY), []);
      const wildcard = await findSourceFiles(spec(`${servers.ftpUrl}source_a/`, 'activity_{date}*'), DAY);
      assert.deepEqual(wildcard.map((f) => f.name), [`activity_${DAY}.jsonl`]);
      const compact = await findSourceFiles(spec(`${servers.ftpUrl}source_b/`, 'customers_{yyyymmdd}*.csv'), DAY);
      assert.deepEqual(compact, [], '{yyyymmdd} is 20211004, which the B file does not use');
    });

    it('HTTP: HEAD on the expanded name, validators returned, [] for a missing day, no wildcards', async () => {
      const found = await findSourceFiles(spec(`${servers.httpUrl}source_b/`, 'customers_{date}.csv'), DAY);
      assert.equal(found.length, 1);
      const [file] = found as [RemoteFile];
      assert.equal(file.size, (await stat(bFile)).size);
      assert.match(file.etag ?? '', /^"[0-9a-f]+-[0-9a-f]+"$/);
      assert.ok(file.modifiedAt !== undefined);
      assert.equal(file.url, `${servers.httpUrl}source_b/customers_${DAY}.csv`);
      assert.deepEqual(await findSourceFiles(spec(`${servers.httpUrl}source_b/`, 'customers_{date}.csv'), MISSING_DAY), []);
      const err = await rejection(findSourceFiles(spec(`${servers.httpUrl}source_b/`, 'customers_*.csv'), DAY));
      assert.ok(err instanceof SourceSpecError, String(err));
    });
  });

  describe('downloadSourceFile', () => {
    for (const protocol of ['ftp', 'http'] as const) {
      it(`${protocol}: the local file is byte-identical to the served one`, async () => {
        const base = protocol === 'ftp' ? servers.ftpUrl : servers.httpUrl;
        const s = spec(`${base}source_a/`, 'activity_{date}.jsonl');
        const [file] = await findSourceFiles(s, DAY);
        assert.ok(file);
        const local = path.join(work, `${protocol}-identical`, file.name);
        const result = await downloadSourceFile(s, file, local);
        assert.equal(result.notModified, false);
        const served = await sha256File(aFile);
        assert.equal(await sha256File(local), served);
        assert.ok(!result.notModified && result.sha256 === served && result.bytes === file.size);
        assert.deepEqual(await readdir(path.dirname(local)), [file.name], 'no temp file left behind');
      });

      it(`${protocol}: a file gone from the source is a SourceFileMissingError, and no local file appears`, async () => {
        const base = protocol === 'ftp' ? servers.ftpUrl : servers.httpUrl;
        const s = spec(`${base}source_a/`, 'activity_{date}.jsonl');
        const local = path.join(work, `${protocol}-missing`, 'gone.jsonl');
        const err = await rejection(downloadSourceFile(s, { name: `activity_${MISSING_DAY}.jsonl`, url: 'x' }, local));
        assert.ok(err instanceof SourceFileMissingError, `${err.name}: ${err.message}`);
        await assert.rejects(stat(local), { code: 'ENOENT' });
      });

      it(`${protocol}: a transfer cut mid-file fails with SourceConnectionError, the retry is byte-identical`, async () => {
        const base = protocol === 'ftp' ? faulty.ftpUrl : faulty.httpUrl;
        const s = spec(`${base}source_a/`, 'activity_{date}.jsonl');
        const [file] = await findSourceFiles(s, DAY);
        assert.ok(file && (file.size ?? 0) > DROP_AFTER_BYTES * 4, 'the file is larger than the cut');
        const local = path.join(work, `${protocol}-cut`, file.name);

        const err = await rejection(downloadSourceFile(s, file, local));
        assert.ok(err instanceof SourceConnectionError, `${err.name}: ${err.message}`);
        assert.equal(err.retryable, true);
        await assert.rejects(stat(local), { code: 'ENOENT' }, 'a failed download leaves no file');
        assert.deepEqual(await readdir(path.dirname(local)), [], 'nor a temp file');

        const retry = await downloadSourceFile(s, file, local);
        assert.equal(await sha256File(local), await sha256File(aFile));
        assert.equal(retry.bytes, file.size);
      });
    }

    it('ftp: a wrong password is a SourceAuthError naming the host, not the password', async () => {
      const url = new URL(servers.ftpUrl);
      url.password = 'not-the-Pa55';
      const err = await rejection(findSourceFiles(spec(`${url.href}source_a/`, 'activity_{date}.jsonl'), DAY));
      assert.ok(err instanceof SourceAuthError, `${err.name}: ${err.message}`);
      assert.ok(!(err instanceof SourceConnectionError));
      assert.equal(err.retryable, false);
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${servers.ftp.port}`));
      assert.ok(!err.message.includes('not-the-Pa55'), err.message);
      assert.ok(!String(err.stack).includes('not-the-Pa55'));
    });

    it('a refused connection is a retryable SourceConnectionError with the password redacted', async () => {
      // The faulty servers' HTTP port is open; a just-closed server's port is not.
      const closed = await startFileSourceServers({ rootDir: root, ftpUser: FTP_USER, ftpPassword: FTP_PASSWORD });
      await closed.close();
      for (const url of [`${closed.ftpUrl}source_a/`, `http://${FTP_USER}:${FTP_PASSWORD}@127.0.0.1:${closed.http.port}/source_a/`]) {
        const err = await rejection(findSourceFiles(spec(url, 'activity_{date}.jsonl'), DAY));
        assert.ok(err instanceof SourceConnectionError, `${err.name}: ${err.message}`);
        assert.match(err.message, /127\.0\.0\.1/);
        assert.ok(!`${err.message} ${err.stack} ${String(err.cause)}`.includes(FTP_PASSWORD), err.message);
      }
    });

    it('stalled servers hit the connect and idle timeouts; an abort signal cancels a download', async () => {
      // A TCP server that reads and says nothing: an FTP banner or HTTP answer that never comes.
      const accepted = new Set<Socket>();
      const silent = createServer((socket) => {
        accepted.add(socket);
        socket.on('error', () => undefined).resume();
      });
      // An HTTP server that sends headers and a first chunk, then stalls.
      const stalling = createHttpServer((_req, res) => {
        res.writeHead(200, { 'content-length': '1000000' });
        res.write('x'.repeat(1000));
      });
      const listen = async (server: Server | HttpServer): Promise<number> => {
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        return (server.address() as AddressInfo).port;
      };
      const silentPort = await listen(silent);
      const stallingPort = await listen(stalling);
      try {
        const quick = { connectTimeoutMs: 300, idleTimeoutMs: 300 };
        for (const url of [`ftp://u:${FTP_PASSWORD}@127.0.0.1:${silentPort}/`, `http://127.0.0.1:${silentPort}/`]) {
          const started = Date.now();
          const err = await rejection(findSourceFiles({ url, pattern: 'f_{date}', ...quick }, DAY));
          assert.ok(err instanceof SourceConnectionError, `${err.name}: ${err.message}`);
          assert.match(err.message, /timed out|no response/);
          assert.ok(Date.now() - started < 3_000);
          assert.ok(!err.message.includes(FTP_PASSWORD));
        }
        const file: RemoteFile = { name: 'big.bin', url: 'x' };
        const local = path.join(work, 'stalled', file.name);
        const idle = await rejection(downloadSourceFile({ url: `http://127.0.0.1:${stallingPort}/`, pattern: 'x', ...quick }, file, local));
        assert.ok(idle instanceof SourceConnectionError, `${idle.name}: ${idle.message}`);
        assert.match(idle.message, /no data for 0.3 s/);

        const controller = new AbortController();
        const reason = new Error('activity cancelled');
        setTimeout(() => controller.abort(reason), 100);
        const cancelled = await rejection(
          downloadSourceFile({ url: `http://127.0.0.1:${stallingPort}/`, pattern: 'x' }, file, local, undefined, { signal: controller.signal }),
        );
        assert.equal(cancelled, reason, 'rejects with the abort reason itself');
        assert.deepEqual(await readdir(path.dirname(local)), [], 'no file or temp file left');
      } finally {
        stalling.closeAllConnections();
        for (const socket of accepted) socket.destroy();
        await Promise.all([new Promise((r) => silent.close(r)), new Promise((r) => stalling.close(r))]);
      }
    });

    it('http: conditional download answers notModified for an unchanged ETag or date', async () => {
      const s = spec(`${servers.httpUrl}source_b/`, 'customers_{date}.csv');
      const [file] = await findSourceFiles(s, DAY);
      assert.ok(file?.etag && file.modifiedAt);
      const local = path.join(work, 'conditional', file.name);
      const byEtag = await downloadSourceFile(s, file, local, undefined, { ifChangedSince: { etag: file.etag } });
      const byDate = await downloadSourceFile(s, file, local, undefined, { ifChangedSince: { modifiedAt: file.modifiedAt } });
      assert.deepEqual([byEtag.notModified, byDate.notModified], [true, true]);
      await assert.rejects(stat(local), { code: 'ENOENT' });
      const stale = await downloadSourceFile(s, file, local, undefined, { ifChangedSince: { etag: '"0-0"' } });
      assert.equal(stale.bytes, file.size);
    });

    it('a 200 MB file downloads over FTP and HTTP with bounded memory and throttled progress', async (t) => {
      const bigDay = '2021-10-10';
      const big = await generate(path.join(root, 'source_a'), { source: 'a', day: bigDay, records: 800_000, seed: 'big' });
      const size = (await stat(big)).size;
      assert.ok(size >= 200_000_000, `${size} bytes`);
      const served = await sha256File(big);
      for (const base of [servers.ftpUrl, servers.httpUrl]) {
        const s = spec(`${base}source_a/`, 'activity_{date}.jsonl');
        const [file] = await findSourceFiles(s, bigDay);
        assert.ok(file);
        const local = path.join(work, 'big', file.name);
        const progressAt: number[] = [];
        const baseline = process.memoryUsage.rss();
        let peak = baseline;
        const sampler = setInterval(() => {
          peak = Math.max(peak, process.memoryUsage.rss());
        }, 25);
        try {
          const result = await downloadSourceFile(s, file, local, () => progressAt.push(Date.now()));
          assert.equal(result.bytes, size);
          assert.ok(!result.notModified && result.sha256 === served, 'byte-identical');
        } finally {
          clearInterval(sampler);
        }
        const growthMb = (peak - baseline) / 2 ** 20;
        t.diagnostic(`${base.split(":")[0]}: ${(size / 1e6).toFixed(0)} MB, RSS growth ${growthMb.toFixed(1)} MB, ${progressAt.length} progress calls`);
        assert.ok(growthMb < 64, `RSS grew ${growthMb.toFixed(1)} MB over ${base.slice(0, 4)}`);
        for (let i = 1; i < progressAt.length; i++) {
          assert.ok((progressAt[i] as number) - (progressAt[i - 1] as number) >= 900, 'progress at most about every second');
        }
        await rm(local);
      }
    });
  });

  describe('servers', () => {
    it('http: ETag and Last-Modified, 304 on If-None-Match and If-Modified-Since, 412, ranges, no escape from the root', async () => {
      const url = `${servers.httpUrl}source_b/customers_${DAY}.csv`;
      const head = await fetch(url, { method: 'HEAD' });
      const etag = head.headers.get('etag') ?? '';
      const lastModified = head.headers.get('last-modified') ?? '';
      assert.ok(etag && lastModified);
      assert.equal((await fetch(url, { headers: { 'if-none-match': etag } })).status, 304);
      assert.equal((await fetch(url, { headers: { 'if-none-match': `W/${etag}, "other"` } })).status, 304);
      assert.equal((await fetch(url, { headers: { 'if-modified-since': lastModified } })).status, 304);
      assert.equal((await fetch(url, { headers: { 'if-modified-since': 'Thu, 01 Jan 2015 00:00:00 GMT' } })).status, 200);
      assert.equal((await fetch(url, { headers: { 'if-match': '"stale"' } })).status, 412);
      const ranged = await fetch(url, { headers: { range: 'bytes=0-10' } });
      assert.equal(ranged.status, 206);
      assert.equal(await ranged.text(), 'customer_id');
      assert.equal((await fetch(url, { headers: { range: 'bytes=999999999-' } })).status, 416);
      assert.equal((await fetch(`${servers.httpUrl}%2e%2e/%2e%2e/etc/passwd`)).status, 404);
      assert.equal((await fetch(url, { method: 'PUT', body: 'x' })).status, 405);

      // A file touched after the client's copy is served again.
      await utimes(bFile, new Date(), new Date(Date.now() + 5_000));
      assert.equal((await fetch(url, { headers: { 'if-none-match': etag } })).status, 200);
    });

    it('ftp: read-only, no anonymous login', async () => {
      const client = new FtpClient(5_000);
      try {
        await client.access({ host: '127.0.0.1', port: servers.ftp.port, user: FTP_USER, password: FTP_PASSWORD });
        const upload = path.join(work, 'upload.txt');
        await writeFile(upload, 'should not land');
        await assert.rejects(client.uploadFrom(upload, 'source_a/upload.txt'), (e: unknown) => e instanceof FTPError && e.code >= 500);
        await assert.rejects(client.remove(`source_a/activity_${DAY}.jsonl`), (e: unknown) => e instanceof FTPError && e.code >= 500);
      } finally {
        client.close();
      }
      await assert.rejects(stat(path.join(root, 'source_a', 'upload.txt')), { code: 'ENOENT' });
      const anonymous = new FtpClient(5_000);
      try {
        await assert.rejects(anonymous.access({ host: '127.0.0.1', port: servers.ftp.port }), (e: unknown) => e instanceof FTPError && e.code === 530);
      } finally {
        anonymous.close();
      }
    });

    it('both bind to loopback only, FTP passive data ports included', async () => {
      const pasvReply = await ftpCommandReplies(servers.ftp.port, [`USER ${FTP_USER}`, `PASS ${FTP_PASSWORD}`, 'PASV'], async (replies) => {
        const m = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(replies.at(-1) ?? '');
        assert.ok(m, `PASV answered ${replies.at(-1)}`);
        const passivePort = Number(m[5]) * 256 + Number(m[6]);
        assert.equal(`${m[1]}.${m[2]}.${m[3]}.${m[4]}`, '127.0.0.1');
        // While the passive listener is open, it must be on loopback like the others.
        for (const port of [servers.ftp.port, servers.http.port, passivePort]) {
          assert.deepEqual(await listeningAddresses(port), ['127.0.0.1'], `port ${port} listens on 127.0.0.1 only`);
        }
      });
      assert.match(pasvReply.at(-1) ?? '', /^227 /);
    });
  });
});
