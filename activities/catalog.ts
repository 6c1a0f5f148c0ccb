/**
 * The catalog's activities: which datasets are late (built from the lake's metadata), and the
 * freshness webhook's delivery of one violation.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { buildCatalog } from '../lib/catalog/build.ts';
import type { Config } from '../lib/config.ts';
import type { LakeSession } from '../lib/lake/session.ts';
import type { ObjectStore } from '../lib/storage/object-store.ts';
import { addDays, dayOf } from '../lib/time/days.ts';

export interface CatalogActivityDeps {
  readonly config: Config;
  readonly store: ObjectStore;
  readonly openSession: () => Promise<LakeSession>;
}

export interface FreshnessViolation {
  readonly dataset: string;
  /** The newest due day that is not published. */
  readonly day: string;
  readonly due: string;
  readonly state: string;
  readonly expectation: string;
  readonly detail: string;
}

export interface FreshnessInput {
  /** "Now" for due times (tests); default the activity's clock. */
  readonly now?: string;
  readonly datasets?: readonly string[];
}

export function createCatalogActivities(deps: CatalogActivityDeps) {
  return {
    /** Every dataset whose newest due day is not published (missing, failed, stale or still running). */
    async findFreshnessViolations(input: FreshnessInput = {}): Promise<FreshnessViolation[]> {
      const now = input.now ? new Date(input.now) : new Date();
      const to = dayOf(now);
      const catalog = await buildCatalog(
        { config: deps.config, store: deps.store, openSession: deps.openSession },
        { from: addDays(to, -(deps.config.catalogWindowDays - 1)), to, now, ...(input.datasets ? { datasets: input.datasets } : {}) },
      );
      const out: FreshnessViolation[] = [];
      for (const d of catalog.datasets) {
        if (d.freshness.verdict !== 'late') continue;
        // The newest day due and not published: the one the verdict names.
        const late = [...d.partitions].reverse().find((p) => p.state !== 'published' && p.due <= now.toISOString());
        if (!late) continue;
        out.push({ dataset: d.name, day: late.day, due: late.due, state: late.state, expectation: d.freshness.expectation, detail: d.freshness.detail });
      }
      return out;
    },

    /**
     * POSTs one violation to FRESHNESS_WEBHOOK_URL as JSON. The Idempotency-Key is the same on
     * every attempt of the same violation, so a receiver that saw a retried POST can drop it.
     */
    async postFreshnessViolation(input: { violation: FreshnessViolation; idempotencyKey: string }): Promise<{ status: number } | { skipped: string }> {
      const url = deps.config.freshnessWebhookUrl;
      if (!url) return { skipped: 'FRESHNESS_WEBHOOK_URL is not set' };
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': input.idempotencyKey, 'User-Agent': 'tempolake-freshness' },
        body: JSON.stringify({ kind: 'freshness_violation', ...input.violation, attempt: Context.current().info.attempt }),
        signal: AbortSignal.timeout(15_000),
      });
      await res.body?.cancel();
      // A 4xx other than 408/429 will not change on a retry: the receiver refuses this body.
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
        throw ApplicationFailure.nonRetryable(`the freshness webhook answered ${res.status}`, 'WebhookRefused');
      }
      if (!res.ok) throw new Error(`the freshness webhook answered ${res.status}`);
      return { status: res.status };
    },
  };
}

export type CatalogActivities = ReturnType<typeof createCatalogActivities>;
