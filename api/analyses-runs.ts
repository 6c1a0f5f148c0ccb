/**
 * Case 3 from the API's side: an analysis is one `customerAnalysis` workflow, and its
 * status is read from Temporal every time (no table of our own to keep in step). Every
 * lookup builds the workflow ID from the caller's customer id, so another customer's
 * analysis is not found rather than forbidden: its existence is never confirmed.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  ApplicationFailure,
  defaultPayloadConverter,
  isGrpcServiceError,
  TerminatedFailure,
  TimeoutFailure,
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  type Client,
  type WorkflowExecutionDescription,
} from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import type { AnalysisRequest } from '../lib/analysis/requests.ts';
import { DATASET, ZONE } from '../lib/temporal/search-attributes.ts';
import { TASK_QUEUES } from '../lib/temporal/task-queues.ts';
import {
  analysisProgressQuery,
  analysisWorkflowId,
  type AnalysisInput,
  type AnalysisProgress,
  type AnalysisResult,
  type customerAnalysis,
} from '../workflows/analysis.ts';
import { HttpProblem, invalidParams, notFound } from './problem.ts';
import type { AnalysisStatusName } from './schemas.ts';
import { TemporalUnavailableError, type TemporalAccess } from './temporal.ts';

const WORKFLOW_TYPE = 'customerAnalysis';
const ANALYSIS_ID_BYTES = 8;
/** Budget of one API operation's Temporal calls: a hung frontend must not hang the request. */
const CALL_BUDGET_MS = 10_000;
/** The progress query runs workflow code on a worker; without one it would wait out the whole budget. */
const QUERY_BUDGET_MS = 2_000;
/** Retry-After while queued / running: analyses take seconds to minutes. */
export const POLL_AFTER_SECONDS = { queued: 2, running: 5 } as const;

// gRPC status codes (the API has no direct dependency on grpc-js).
const GRPC_UNKNOWN = 2;
const GRPC_INVALID_ARGUMENT = 3;
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_UNAVAILABLE = 14;
// temporal.api.enums.v1.PendingActivityState: only SCHEDULED means "not picked up yet".
const PENDING_ACTIVITY_SCHEDULED = 1;
// temporal.api.enums.v1.WorkflowExecutionStatus, as visibility returns it.
const VISIBILITY_STATUS: Record<number, AnalysisStatusName> = {
  1: 'running', // RUNNING: queued and running look alike in visibility
  2: 'succeeded', // COMPLETED
  3: 'failed', // FAILED
  4: 'cancelled', // CANCELED
  5: 'failed', // TERMINATED
  6: 'running', // CONTINUED_AS_NEW (the workflow does not, but a newer run would be running)
  7: 'failed', // TIMED_OUT
};

/** What the workflow's memo holds, so a repeated POST can be compared with the first. */
interface AnalysisMemo {
  readonly request: AnalysisRequest;
  readonly requestHash: string;
}

export interface AnalysisSummary {
  id: string;
  type: string | null;
  status: AnalysisStatusName;
  request: AnalysisRequest | null;
  created_at: string;
  finished_at: string | null;
  href: string;
}

export interface AnalysisView extends AnalysisSummary {
  progress: { phase: AnalysisProgress['phase']; rows: number | null } | null;
  result: { table: string; lake_table: string; rows: number; href: string } | null;
  error: { reason: string } | null;
}

export const analysisHref = (id: string): string => `/v1/analyses/${id}`;

/**
 * With an Idempotency-Key the id is a function of (customer, key), so a retried POST lands on
 * the same workflow ID and Temporal refuses the second start; without one it is random.
 */
export function analysisIdFor(customerId: string, idempotencyKey: string | undefined): string {
  if (idempotencyKey === undefined) return randomBytes(ANALYSIS_ID_BYTES).toString('hex');
  return createHash('sha256').update(`${customerId}\n${idempotencyKey}`, 'utf8').digest('hex').slice(0, ANALYSIS_ID_BYTES * 2);
}

/** JSON with object keys sorted, so equal requests hash equally whatever order the client sent. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export const requestHash = (request: AnalysisRequest): string => createHash('sha256').update(canonicalJson(request), 'utf8').digest('hex');

const temporalUnavailable = (): HttpProblem => new HttpProblem(503, 'Temporal is unavailable; try again shortly', { headers: { 'Retry-After': '5' } });

function grpcCode(err: unknown): number | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (isGrpcServiceError(e)) return e.code;
  }
  return undefined;
}

/**
 * Runs `work` with the API's Temporal client under a deadline; Temporal being unreachable
 * (no connection, UNAVAILABLE, or no answer in time) becomes a 503 with Retry-After.
 */
export async function withTemporal<T>(access: TemporalAccess, work: (client: Client) => Promise<T>): Promise<T> {
  let client: Client;
  try {
    client = await access.client();
  } catch {
    // The lazy connection failed (its error is a plain Error): nothing else can go wrong here.
    throw temporalUnavailable();
  }
  try {
    return await client.connection.withDeadline(Date.now() + CALL_BUDGET_MS, () => work(client));
  } catch (err) {
    const code = grpcCode(err);
    if (err instanceof TemporalUnavailableError || code === GRPC_UNAVAILABLE || code === GRPC_DEADLINE_EXCEEDED) throw temporalUnavailable();
    throw err;
  }
}

/** A workflow ID built only from the caller's customer id; `id` has passed AnalysisId. */
function workflowIdOf(customerId: string, id: string): string {
  return analysisWorkflowId(customerId, id);
}

function memoOf(memo: Record<string, unknown> | undefined): AnalysisMemo | undefined {
  const m = memo as Partial<AnalysisMemo> | undefined;
  return m && typeof m.requestHash === 'string' && m.request ? (m as AnalysisMemo) : undefined;
}

function typeOf(memo: AnalysisMemo | undefined, dataset: unknown): string | null {
  if (memo) return memo.request.type;
  const d = Array.isArray(dataset) ? dataset[0] : dataset;
  return typeof d === 'string' && d.startsWith('analysis.') ? d.slice('analysis.'.length) : null;
}

/** Why a run failed, as the customer may read it: a bad parameter is named, an internal error is not detailed. */
export function failureReason(err: unknown): string {
  let root: unknown = err;
  for (let e: unknown = err, depth = 0; e && depth < 10; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof ApplicationFailure && e.type === 'InvalidAnalysis') return e.message;
    root = e;
  }
  if (root instanceof TimeoutFailure) return 'the analysis took longer than allowed';
  if (root instanceof TerminatedFailure) return 'the analysis was stopped by an operator';
  return 'the analysis failed because of an internal error; try again later';
}

async function describeOwn(client: Client, customerId: string, id: string): Promise<WorkflowExecutionDescription> {
  try {
    const d = await client.workflow.getHandle(workflowIdOf(customerId, id)).describe();
    // The ID space is ours, but only customerAnalysis runs are analyses.
    if (d.type !== WORKFLOW_TYPE) throw notFound(`no analysis "${id}"`);
    return d;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw notFound(`no analysis "${id}"`);
    throw err;
  }
}

async function queryProgress(client: Client, d: WorkflowExecutionDescription): Promise<AnalysisProgress | undefined> {
  try {
    const handle = client.workflow.getHandle(d.workflowId, d.runId);
    return await client.connection.withDeadline(Date.now() + QUERY_BUDGET_MS, () => handle.query(analysisProgressQuery));
  } catch {
    // No worker to answer right now: the status is still known without it.
    return undefined;
  }
}

async function viewOf(client: Client, id: string, d: WorkflowExecutionDescription): Promise<AnalysisView> {
  const memo = memoOf(d.memo);
  const view: AnalysisView = {
    id,
    type: typeOf(memo, d.searchAttributes?.[DATASET.name]),
    status: 'running',
    request: memo?.request ?? null,
    created_at: d.startTime.toISOString(),
    finished_at: d.closeTime?.toISOString() ?? null,
    href: analysisHref(id),
    progress: null,
    result: null,
    error: null,
  };
  const handle = client.workflow.getHandle(d.workflowId, d.runId, { followRuns: false });
  switch (d.status.name) {
    case 'COMPLETED': {
      const r = (await handle.result()) as AnalysisResult;
      return { ...view, status: 'succeeded', result: { table: r.table, lake_table: r.lakeTable, rows: r.rows, href: `/v1/tables/${r.table}` } };
    }
    case 'CANCELLED':
      return { ...view, status: 'cancelled' };
    case 'FAILED':
    case 'TERMINATED':
    case 'TIMED_OUT': {
      const reason = await handle.result().then(
        () => 'the analysis ended without a result',
        (err: unknown) => failureReason(err),
      );
      return { ...view, status: 'failed', error: { reason } };
    }
    default: {
      const pending = d.raw.pendingActivities ?? [];
      const started = pending.some((a) => a.state !== PENDING_ACTIVITY_SCHEDULED || (a.attempt ?? 1) > 1);
      // Until a worker has run the workflow once, nobody could answer the query.
      const progress = d.historyLength > 3 ? await queryProgress(client, d) : undefined;
      if (!started && (!progress || progress.phase === 'computing')) return { ...view, status: 'queued' };
      return { ...view, status: 'running', progress: progress ? { phase: progress.phase, rows: progress.rows ?? null } : null };
    }
  }
}

/** The caller's analysis `id`, or 404. */
export async function getAnalysis(client: Client, customerId: string, id: string): Promise<AnalysisView> {
  return viewOf(client, id, await describeOwn(client, customerId, id));
}

/** Starts the analysis, or finds the one the same Idempotency-Key started (409 if its request differs). */
export async function startAnalysis(client: Client, customerId: string, request: AnalysisRequest, idempotencyKey: string | undefined): Promise<AnalysisView> {
  const id = analysisIdFor(customerId, idempotencyKey);
  const hash = requestHash(request);
  const input: AnalysisInput = { customerId, analysisId: id, request };
  try {
    await client.workflow.start<typeof customerAnalysis>(WORKFLOW_TYPE, {
      taskQueue: TASK_QUEUES.analysis,
      workflowId: workflowIdOf(customerId, id),
      args: [input],
      // Never a second run under one id, even after the first closed: a key means one analysis.
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      memo: { request, requestHash: hash } satisfies AnalysisMemo,
      // Set at start (the workflow sets them too) so a queued analysis is findable already.
      typedSearchAttributes: [
        { key: DATASET, value: `analysis.${request.type}` },
        { key: ZONE, value: 'personal' },
      ],
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    if (idempotencyKey === undefined) throw new HttpProblem(409, 'a random analysis id collided; send the request again');
    const existing = await describeOwn(client, customerId, id);
    if (memoOf(existing.memo)?.requestHash !== hash) {
      throw new HttpProblem(409, 'this Idempotency-Key was already used with another request; use a new key for a new analysis');
    }
    return viewOf(client, id, existing);
  }
  return getAnalysis(client, customerId, id);
}

export interface CancelOutcome {
  readonly view: AnalysisView;
  /** False when the analysis was already cancelled (the DELETE changes nothing). */
  readonly requested: boolean;
}

/** Requests cancellation of a queued or running analysis; 409 once it has succeeded or failed. */
export async function cancelAnalysis(client: Client, customerId: string, id: string): Promise<CancelOutcome> {
  let d = await describeOwn(client, customerId, id);
  if (d.status.name === 'RUNNING') {
    try {
      await client.workflow.getHandle(d.workflowId, d.runId).cancel();
      return { view: await getAnalysis(client, customerId, id), requested: true };
    } catch (err) {
      // It closed in between: answer from its final state.
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      d = await describeOwn(client, customerId, id);
    }
  }
  const view = await viewOf(client, id, d);
  if (view.status === 'cancelled') return { view, requested: false };
  throw new HttpProblem(409, `the analysis has already ${view.status === 'succeeded' ? 'succeeded' : 'failed'}; there is nothing to cancel`);
}

export interface AnalysisPage {
  readonly analyses: AnalysisSummary[];
  /** Temporal's nextPageToken, checked and base64url-encoded (cursorOf); undefined on the last page. */
  readonly next: string | undefined;
}

const fromPayload = (p: Payload | null | undefined): unknown => (p ? defaultPayloadConverter.fromPayload(p) : undefined);

function timestamp(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): string | null {
  if (!ts) return null;
  return new Date(Number(String(ts.seconds ?? 0)) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6)).toISOString();
}

const CUSTOMER_ID = /^[a-z0-9_]{1,40}$/;

/**
 * The caller's analyses from Temporal visibility, one page. Visibility (SQL) orders unfinished
 * runs first, newest first, then finished ones by when they finished, newest first; it has no ORDER BY.
 */
export async function listAnalyses(client: Client, customerId: string, limit: number, cursor: string | undefined): Promise<AnalysisPage> {
  // The id goes into a visibility query: it must not be able to close the quoted string.
  if (!CUSTOMER_ID.test(customerId)) throw new Error(`customer id "${customerId}" is not one the API issues`);
  const prefix = workflowIdOf(customerId, '');
  const badCursor = (): HttpProblem => invalidParams([{ name: 'cursor', in: 'query', reason: 'must be the cursor of a previous page, unchanged' }]);
  const nextPageToken = cursor === undefined ? undefined : pageTokenOf(customerId, cursor);
  if (cursor !== undefined && !nextPageToken) throw badCursor();
  let response;
  try {
    response = await client.workflowService.listWorkflowExecutions({
      namespace: client.options.namespace,
      query: `WorkflowType = '${WORKFLOW_TYPE}' AND WorkflowId STARTS_WITH '${prefix}'`,
      pageSize: limit,
      ...(nextPageToken ? { nextPageToken } : {}),
    });
  } catch (err) {
    const code = grpcCode(err);
    if (cursor && (code === GRPC_INVALID_ARGUMENT || code === GRPC_UNKNOWN)) throw badCursor();
    throw err;
  }
  const analyses: AnalysisSummary[] = [];
  for (const e of response.executions ?? []) {
    const workflowId = e.execution?.workflowId ?? '';
    if (!workflowId.startsWith(prefix)) continue;
    const id = workflowId.slice(prefix.length);
    const memo = memoOf({ request: fromPayload(e.memo?.fields?.['request']), requestHash: fromPayload(e.memo?.fields?.['requestHash']) });
    const dataset = fromPayload(e.searchAttributes?.indexedFields?.[DATASET.name]);
    analyses.push({
      id,
      type: typeOf(memo, dataset),
      status: VISIBILITY_STATUS[Number(e.status ?? 1)] ?? 'running',
      request: memo?.request ?? null,
      created_at: timestamp(e.startTime) ?? new Date(0).toISOString(),
      finished_at: timestamp(e.closeTime),
      href: analysisHref(id),
    });
  }
  const token = response.nextPageToken;
  return { analyses, next: token && token.length > 0 ? cursorOf(customerId, token) : undefined };
}

const CURSOR_CHECK_BYTES = 8;
const cursorCheck = (customerId: string, token: Uint8Array): Buffer => createHash('sha256').update(`${customerId}\n`).update(token).digest().subarray(0, CURSOR_CHECK_BYTES);

/**
 * Temporal's page token behind a check of (customer, token). Temporal answers a damaged token
 * with UNKNOWN, which the client retries until the deadline; the check turns it into a 400 at once.
 * (Not a secret: a forged token only ever reaches the caller's own query.)
 */
function cursorOf(customerId: string, token: Uint8Array): string {
  return Buffer.concat([cursorCheck(customerId, token), token]).toString('base64url');
}

function pageTokenOf(customerId: string, cursor: string): Buffer | undefined {
  const raw = Buffer.from(cursor, 'base64url');
  const token = raw.subarray(CURSOR_CHECK_BYTES);
  return token.length > 0 && raw.subarray(0, CURSOR_CHECK_BYTES).equals(cursorCheck(customerId, token)) ? token : undefined;
}
