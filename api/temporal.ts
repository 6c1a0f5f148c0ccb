/**
 * The API's Temporal client, connected on first use rather than at start-up: the API serves
 * warehouse data while Temporal is down, and /ready reports it. A failed connection is
 * forgotten, so the next use tries again.
 */
import { Client, Connection } from '@temporalio/client';
import type { Config } from '../lib/config.ts';
import { temporalConnectionOptions } from '../lib/temporal/client.ts';

export interface TemporalAccess {
  /** The connected client (connects on first call). */
  client(): Promise<Client>;
  /** Resolves when the frontend answers getSystemInfo within `timeoutMs`. */
  check(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export class TemporalUnavailableError extends Error {
  override name = 'TemporalUnavailableError';
}

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TemporalUnavailableError(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

interface Connected {
  readonly client: Client;
  close(): Promise<void>;
}

/**
 * Like lib/temporal/client.ts's connectClient, plus a bounded connect time: an attempt
 * against a dead address retries until its deadline, and close() waits for it.
 */
async function connectWithin(config: Config, connectTimeoutMs: number): Promise<Connected> {
  const connection = await Connection.connect({ ...temporalConnectionOptions(config), connectTimeout: connectTimeoutMs });
  return { client: new Client({ connection, namespace: config.temporalNamespace }), close: () => connection.close() };
}

export function lazyTemporal(config: Config, options: { connectTimeoutMs?: number } = {}): TemporalAccess {
  let connecting: Promise<Connected> | undefined;
  const connect = (): Promise<Connected> => {
    if (!connecting) {
      const attempt = connectWithin(config, options.connectTimeoutMs ?? 5_000);
      connecting = attempt;
      attempt.catch(() => {
        if (connecting === attempt) connecting = undefined;
      });
    }
    return connecting;
  };
  return {
    client: async () => (await connect()).client,
    async check(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      // The connection attempt outlives a timed-out probe; the next probe reuses it.
      const { client } = await withTimeout(connect(), timeoutMs, `connecting to Temporal at ${config.temporalAddress.host}:${config.temporalAddress.port}`);
      await client.connection.withDeadline(deadline, () => client.workflowService.getSystemInfo({}));
    },
    async close() {
      const pending = connecting;
      connecting = undefined;
      if (pending) await pending.then((c) => c.close()).catch(() => undefined);
    },
  };
}
