/** A Temporal client from config, closed by the caller. */
import { Client, Connection } from '@temporalio/client';
import type { Config } from '../config.ts';

export async function connectClient(config: Config): Promise<{ client: Client; close(): Promise<void> }> {
  const connection = await Connection.connect({ address: `${config.temporalAddress.host}:${config.temporalAddress.port}` });
  return { client: new Client({ connection, namespace: config.temporalNamespace }), close: () => connection.close() };
}
