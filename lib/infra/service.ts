/** The shape every local server takes in `lake infra up | down | status`. */
import type { Config } from '../config.ts';

export type Progress = (line: string) => void;

export interface InfraContext {
  readonly config: Config;
  readonly progress: Progress;
}

export interface ServiceStatus {
  readonly name: string;
  readonly address: string;
  /** false when the configured address is not on this machine: someone else runs it. */
  readonly managed: boolean;
  readonly running: boolean;
  readonly pid?: number;
  /** Extra lines for `status`, e.g. the Temporal UI URL. */
  readonly notes: readonly string[];
}

export interface LocalService {
  readonly name: string;
  /**
   * Started only when named (`lake infra up kubernetes`; the test runner names every server):
   * a server only some work needs, too slow to build for everyone's first `lake demo`.
   */
  readonly onDemand?: boolean;
  /** Whether the configured address is a loopback one this command may start. */
  managed(config: Config): boolean;
  /** Builds or downloads into the cache folder; a no-op when already there. */
  provision(ctx: InfraContext): Promise<void>;
  /** Starts the server unless running, waits until it answers, then applies its setup (buckets, roles…). */
  start(ctx: InfraContext): Promise<void>;
  stop(ctx: InfraContext): Promise<boolean>;
  status(config: Config): Promise<ServiceStatus>;
}
