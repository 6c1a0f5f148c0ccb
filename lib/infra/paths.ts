/** Where provisioned tools (cache, shared across clones) and server data (per clone) live. */
import path from 'node:path';
import type { Config } from '../config.ts';

export function cachePath(config: Config, ...parts: string[]): string {
  return path.join(config.cacheDir, ...parts);
}

export function serverDir(config: Config, service: string): string {
  return path.join(config.dataDir, 'infra', service);
}
