/** A Temporal client from config, closed by the caller; the connection options every Temporal connection shares. */
import { readFileSync } from 'node:fs';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import { ConfigError, type Config } from '../config.ts';

/**
 * Address and TLS of the Temporal frontend, for `Connection.connect` (clients) and
 * `NativeConnection.connect` (workers) alike. With TEMPORAL_TLS_CERT/KEY set this is mTLS
 * (Temporal Cloud); the PEM files are read now, so a missing one fails naming its variable.
 */
export function temporalConnectionOptions(config: Config): { address: string; tls?: TLSConfig } {
  const address = `${config.temporalAddress.host}:${config.temporalAddress.port}`;
  if (!config.temporalTls) {
    if (config.temporalTlsCert || config.temporalTlsKey || config.temporalTlsCa) {
      throw new ConfigError('TEMPORAL_TLS=false but TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY or TEMPORAL_TLS_CA is set: unset them or set TEMPORAL_TLS=true');
    }
    return { address };
  }
  if (Boolean(config.temporalTlsCert) !== Boolean(config.temporalTlsKey)) {
    throw new ConfigError('TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: set both (mTLS) or neither');
  }
  const read = (file: string, name: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ConfigError(`${name} names ${file}, which cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  };
  const tls: TLSConfig = {
    ...(config.temporalTlsServerName ? { serverNameOverride: config.temporalTlsServerName } : {}),
    ...(config.temporalTlsCa ? { serverRootCACertificate: read(config.temporalTlsCa, 'TEMPORAL_TLS_CA') } : {}),
    ...(config.temporalTlsCert
      ? { clientCertPair: { crt: read(config.temporalTlsCert, 'TEMPORAL_TLS_CERT'), key: read(config.temporalTlsKey, 'TEMPORAL_TLS_KEY') } }
      : {}),
  };
  return { address, tls };
}

export async function connectClient(config: Config): Promise<{ client: Client; close(): Promise<void> }> {
  const connection = await Connection.connect(temporalConnectionOptions(config));
  return { client: new Client({ connection, namespace: config.temporalNamespace }), close: () => connection.close() };
}
