/** `lake infra up | down | status`: every local server, in start order. */
import type { Config } from '../config.ts';
import type { InfraContext, LocalService, Progress, ServiceStatus } from './service.ts';
import { fileSourcesService } from './services/file-sources.ts';
import { icebergService } from './services/iceberg.ts';
import { kafkaService } from './services/kafka.ts';
import { kubernetesService } from './services/kubernetes.ts';
import { marketSimService } from './services/market-sim.ts';
import { minioService } from './services/minio.ts';
import { postgresService } from './services/postgres.ts';
import { temporalService } from './services/temporal.ts';
import { weatherSimService } from './services/weather-sim.ts';

export const services: readonly LocalService[] = [temporalService, minioService, kafkaService, postgresService, kubernetesService, icebergService, fileSourcesService, weatherSimService, marketSimService];


/** The named servers, or every server but the on-demand ones. */
function pick(names?: readonly string[]): LocalService[] {
  if (!names || names.length === 0) return services.filter((s) => !s.onDemand);
  const unknown = names.filter((n) => !services.some((s) => s.name === n));
  if (unknown.length > 0) {
    throw new Error(`unknown server ${unknown.join(', ')}; known: ${services.map((s) => s.name).join(', ')}`);
  }
  return services.filter((s) => names.includes(s.name));
}

const seconds = (start: number): string => `${((Date.now() - start) / 1000).toFixed(1)} s`;

/**
 * Provisions (first time) and starts each server; already-running ones are left
 * as they are, so running it twice is harmless. Returns the names it started.
 */
export async function infraUp(config: Config, progress: Progress, names?: readonly string[]): Promise<string[]> {
  const started: string[] = [];
  for (const service of pick(names)) {
    const ctx: InfraContext = { config, progress: (line) => progress(`  ${service.name}: ${line}`) };
    if (!service.managed(config)) {
      progress(`- ${service.name}: configured address is not local, not managed here`);
      continue;
    }
    const t0 = Date.now();
    await service.provision(ctx);
    const wasRunning = (await service.status(config)).running;
    if (!wasRunning) progress(`… ${service.name}: starting`);
    await service.start(ctx);
    const { address } = await service.status(config);
    progress(`✓ ${service.name} ${wasRunning ? 'already running' : `started in ${seconds(t0)}`} at ${address}`);
    if (!wasRunning) started.push(service.name);
  }
  return started;
}

export async function infraDown(config: Config, progress: Progress, names?: readonly string[]): Promise<void> {
  // Stopping takes every server, on-demand ones included.
  for (const service of (names && names.length > 0 ? pick(names) : [...services]).reverse()) {
    if (!service.managed(config)) continue;
    const stopped = await service.stop({ config, progress });
    progress(`${stopped ? '✓ stopped' : '- not running:'} ${service.name}`);
  }
}

export async function infraStatus(config: Config): Promise<ServiceStatus[]> {
  return Promise.all(services.map((s) => s.status(config)));
}
