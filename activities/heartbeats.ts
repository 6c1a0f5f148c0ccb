/** Heartbeating while long work runs: a DuckDB query or a COPY reports nothing on its own. */
import { Context } from '@temporalio/activity';

/**
 * Heartbeats every few seconds with the latest step while `work` runs; `work` may report a
 * step with `progress`, which is also sent at once.
 */
export async function withHeartbeats<T>(work: (progress: (detail: string) => void) => Promise<T>): Promise<T> {
  const ctx = Context.current();
  let detail: string | undefined;
  const timer = setInterval(() => ctx.heartbeat(detail), 5000);
  try {
    return await work((d) => {
      detail = d;
      ctx.heartbeat(d);
    });
  } finally {
    clearInterval(timer);
  }
}
