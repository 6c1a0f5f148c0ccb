/** kafkajs client built from config; quiet by default (kafkajs logs every retry at ERROR). */
import { Kafka, logLevel } from 'kafkajs';
import type { Config } from '../config.ts';

export function createKafka(config: Config, clientId: string, opts: { verbose?: boolean } = {}): Kafka {
  return new Kafka({
    clientId,
    brokers: [...config.kafkaBrokers],
    connectionTimeout: 3000,
    logLevel: opts.verbose ? logLevel.INFO : logLevel.NOTHING,
  });
}
