/**
 * LISTEN for committed warehouse loads on a dedicated connection (a pooled one would be
 * handed to queries, and LISTEN belongs to the session). When the connection drops it is
 * re-established with backoff, and the caches are dropped on every (re)connect: whatever
 * was notified while nobody listened is lost, so nothing cached before can be trusted.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { LOADS_CHANNEL } from '../lib/warehouse/warehouse.ts';

export interface LoadNotice {
  readonly table: string;
  readonly loadId?: string;
}

export interface LoadsListenerOptions {
  readonly clientConfig: pg.ClientConfig;
  /** A load committed; `undefined` when its payload could not be read (drop everything). */
  readonly onLoad: (notice: LoadNotice | undefined) => void;
  /** The connection was (re)established or lost: notifications may have been missed. */
  readonly onReset: () => void;
  readonly log: (line: string) => void;
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** A silently dead TCP connection only shows when used: probe it this often. */
  readonly heartbeatMs?: number;
}

export const LISTENER_APPLICATION_NAME = 'tempolake-api-listen';

export function parseLoadNotice(payload: string | undefined): LoadNotice | undefined {
  try {
    const v = JSON.parse(payload ?? '') as { table?: unknown; loadId?: unknown };
    if (typeof v?.table !== 'string') return undefined;
    return { table: v.table, ...(typeof v.loadId === 'string' ? { loadId: v.loadId } : {}) };
  } catch {
    return undefined;
  }
}

export class LoadsListener {
  private closed = false;
  private client: pg.Client | undefined;
  private pid: number | undefined;
  private readonly stop = new AbortController();
  private waiters: (() => void)[] = [];
  private loop: Promise<void> | undefined;

  constructor(private readonly options: LoadsListenerOptions) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Backend pid of the listening session while connected (lets tests and operators find it). */
  get backendPid(): number | undefined {
    return this.pid;
  }

  /** Resolves once a LISTEN is in place (at once if it already is). */
  whenListening(): Promise<void> {
    if (this.pid !== undefined) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stop.abort();
    await this.client?.end().catch(() => undefined);
    await this.loop;
  }

  private async run(): Promise<void> {
    const min = this.options.minBackoffMs ?? 250;
    const max = this.options.maxBackoffMs ?? 10_000;
    let delay = min;
    while (!this.closed) {
      const client = new pg.Client({ ...this.options.clientConfig, application_name: LISTENER_APPLICATION_NAME, keepAlive: true });
      const dropped = new Promise<unknown>((resolve) => {
        client.on('error', resolve);
        client.on('end', () => resolve(new Error('connection ended')));
      });
      try {
        await client.connect();
        client.on('notification', (msg) => {
          if (msg.channel === LOADS_CHANNEL) this.options.onLoad(parseLoadNotice(msg.payload));
        });
        await client.query(`LISTEN ${LOADS_CHANNEL}`);
        const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        this.client = client;
        this.pid = rows[0]?.pid;
        this.options.onReset();
        for (const w of this.waiters.splice(0)) w();
        delay = min;
        const reason = await Promise.race([dropped, this.heartbeat(client)]);
        if (!this.closed) this.options.log(`api: LISTEN ${LOADS_CHANNEL} connection lost (${describe(reason)}); reconnecting`);
      } catch (err) {
        if (!this.closed) this.options.log(`api: LISTEN ${LOADS_CHANNEL} failed (${describe(err)}); retrying in ${delay} ms`);
      }
      this.client = undefined;
      this.pid = undefined;
      await client.end().catch(() => undefined);
      if (this.closed) break;
      this.options.onReset();
      await sleep(delay, undefined, { signal: this.stop.signal }).catch(() => undefined);
      delay = Math.min(delay * 2, max);
    }
  }

  /** Resolves (with the failure) when a probe query fails; never while the session is healthy. */
  private async heartbeat(client: pg.Client): Promise<unknown> {
    const every = this.options.heartbeatMs ?? 30_000;
    for (;;) {
      try {
        await sleep(every, undefined, { signal: this.stop.signal });
        await client.query({ text: 'SELECT 1', query_timeout: 5_000 } as pg.QueryConfig);
      } catch (err) {
        return err;
      }
    }
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
