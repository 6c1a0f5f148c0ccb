/**
 * kustomize, which renders deploy/k8s (a base and its overlays) into the manifests applied
 * to a cluster: built once with `go install` from the Go module proxy into the cache's bin
 * folder, pinned, reused after (kubectl's built-in `kustomize` is whatever version kubectl
 * carries; this one is the one the tests render with).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Config } from '../config.ts';
import { cachePath } from './paths.ts';
import { InfraError, requireTool, run } from './process.ts';

const execFileAsync = promisify(execFile);

/** Newest kustomize the Go 1.26 toolchain builds (v5.8.3 asks for Go 1.27). */
export const KUSTOMIZE_VERSION = 'v5.8.2';
export const KUSTOMIZE_MODULE = 'sigs.k8s.io/kustomize/kustomize/v5';

/** deploy/k8s: the base and the overlays. */
export const K8S_DIR = fileURLToPath(new URL('../../deploy/k8s/', import.meta.url));

export function kustomizePath(config: Config): string {
  return cachePath(config, 'bin', `kustomize-${KUSTOMIZE_VERSION}`);
}

async function installedVersion(bin: string): Promise<string | undefined> {
  if (!existsSync(bin)) return undefined;
  try {
    const { stdout } = await execFileAsync(bin, ['version']);
    return stdout.trim();
  } catch {
    return undefined;
  }
}

const pending = new Map<string, Promise<string>>();

/**
 * Path of the pinned kustomize, built the first time (about a minute on 2 cores with an
 * empty Go module cache). Concurrent callers share one build.
 */
export function ensureKustomize(config: Config, progress: (line: string) => void = () => undefined): Promise<string> {
  const bin = kustomizePath(config);
  let p = pending.get(bin);
  if (!p) {
    p = (async () => {
      if ((await installedVersion(bin)) === KUSTOMIZE_VERSION) return bin;
      const go = await requireTool('go', 'to build kustomize', 'Install Go 1.26 or newer (https://go.dev/doc/install).');
      mkdirSync(path.dirname(bin), { recursive: true });
      // Built into a folder of its own beside the target and renamed: an interrupted build never passes for a finished one.
      const gobin = mkdtempSync(path.join(path.dirname(bin), '.kustomize-build-'));
      const t0 = Date.now();
      progress(`building kustomize ${KUSTOMIZE_VERSION} from the Go module proxy (first time only) into ${path.dirname(bin)}`);
      try {
        // GOFLAGS cleared: `go install pkg@version` refuses -mod=… from the environment.
        const env = { ...process.env, GOBIN: gobin, CGO_ENABLED: '0', GOFLAGS: '' };
        await run(go, ['install', '-ldflags=-s -w', `${KUSTOMIZE_MODULE}@${KUSTOMIZE_VERSION}`], { env, what: `go install ${KUSTOMIZE_MODULE}@${KUSTOMIZE_VERSION}` });
        renameSync(path.join(gobin, 'kustomize'), bin);
      } finally {
        rmSync(gobin, { recursive: true, force: true });
      }
      const now = await installedVersion(bin);
      if (now !== KUSTOMIZE_VERSION) throw new InfraError(`after go install, ${bin} reports version ${now ?? 'nothing'}, not ${KUSTOMIZE_VERSION}`);
      progress(`kustomize ${KUSTOMIZE_VERSION} built in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      return bin;
    })();
    p.catch(() => pending.delete(bin));
    pending.set(bin, p);
  }
  return p;
}

/** `kustomize build DIR`: the rendered manifests as one multi-document YAML string. */
export async function kustomizeBuild(bin: string, dir: string): Promise<string> {
  return run(bin, ['build', dir], { what: `kustomize build ${dir}` });
}
