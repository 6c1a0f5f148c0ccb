/**
 * A stand-in for the Amazon Redshift Data API at the HTTP boundary: the real AWS SDK
 * client talks to it (AWS JSON 1.1: `POST /`, `X-Amz-Target: RedshiftData.<Operation>`,
 * JSON bodies, errors as `{ "__type", "message" }`). It runs no SQL: tests script what a
 * statement returns (`rowsFor`, `resultFor`) or how it fails (`failWhen`), and read back
 * every statement it accepted (`executed`).
 *
 * What it holds to, as AWS documents it: at most 40 statements per batch and 100 KB per
 * statement (ValidationException); a ClientToken seen before (for 8 hours) returns the same
 * statement and runs nothing; a batch is one transaction (a failing statement fails the
 * batch, the rest is aborted); statements are SUBMITTED and STARTED before they end, so
 * callers have to poll DescribeStatement.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RedshiftDataClient } from '@aws-sdk/client-redshift-data';

/** The limits as AWS states them ("100 KB": taken as 100 × 1024 bytes here, the wider reading). */
export const FAKE_MAX_STATEMENT_BYTES = 100 * 1024;
export const FAKE_MAX_BATCH_STATEMENTS = 40;
export const CLIENT_TOKEN_TTL_MS = 8 * 3600 * 1000;

type Value = string | number | boolean | null;

export interface ScriptedResult {
  readonly columns: readonly string[];
  readonly rows: readonly (readonly Value[])[];
}

/** A statement the fake accepted and "ran" (idempotent replays are not listed again). */
export interface ExecutedStatement {
  readonly id: string;
  readonly operation: 'ExecuteStatement' | 'BatchExecuteStatement';
  readonly sqls: readonly string[];
  readonly clientToken?: string;
  readonly statementName?: string;
  /** ClusterIdentifier, WorkgroupName, DbUser, SecretArn, Database as sent. */
  readonly target: Readonly<Record<string, string>>;
}

interface SubState {
  readonly sql: string;
  status: 'FINISHED' | 'FAILED' | 'ABORTED';
  readonly resultRows: number;
  readonly result?: ScriptedResult;
  readonly error?: string;
}

interface StatementState {
  readonly executed: ExecutedStatement;
  readonly createdAt: number;
  readonly subs: SubState[];
  readonly failure?: string;
  /** DescribeStatement calls answered so far. */
  describes: number;
  /** How many of those still answer a pending phase. */
  readonly pending: readonly string[];
}

class ApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const isDml = (sql: string): boolean => /^\s*(INSERT|DELETE|UPDATE|MERGE|COPY)\b/i.test(sql);
const isQuery = (sql: string): boolean => /^\s*(SELECT|WITH)\b/i.test(sql);

function field(v: Value): Record<string, unknown> {
  if (v === null) return { isNull: true };
  if (typeof v === 'boolean') return { booleanValue: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { longValue: v } : { doubleValue: v };
  return { stringValue: v };
}

export class FakeRedshiftDataApi {
  /** Every request, in order (operation and parsed body), accepted or not. */
  readonly requests: { operation: string; body: Record<string, unknown> }[] = [];
  /** Every statement run, in order. */
  readonly executed: ExecutedStatement[] = [];
  /** Redshift's error text for a statement that must fail, or undefined to let it pass. */
  failWhen: (sql: string) => string | undefined = () => undefined;
  /** Rows a DML statement affects (default 0); -1 makes ResultRows "unknown". */
  rowsFor: (sql: string) => number | undefined = () => undefined;
  /** The result set of a query (default: none, zero rows). */
  resultFor: (sql: string) => ScriptedResult | undefined = () => undefined;
  /** What DescribeStatement answers before the end, one per call (AWS: SUBMITTED, PICKED, STARTED). */
  pendingPhases: readonly string[] = ['SUBMITTED', 'STARTED'];
  /** Added to the fake's clock (CreatedAt, token expiry): tests age statements with it. */
  clockOffsetMs = 0;
  /** The next N executions run but answer 500, as if the response was lost on the way. */
  loseResponses = 0;

  private readonly statements = new Map<string, StatementState>();
  private readonly tokens = new Map<string, { id: string; at: number }>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<FakeRedshiftDataApi> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const fake = new FakeRedshiftDataApi(server, `http://127.0.0.1:${port}`);
    server.on('request', (req, res) => void fake.handle(req, res));
    return fake;
  }

  /** A real SDK client pointed at the fake, with dummy credentials. */
  client(): RedshiftDataClient {
    return new RedshiftDataClient({
      region: 'us-east-1',
      endpoint: this.url,
      credentials: { accessKeyId: 'AKIDFAKE', secretAccessKey: 'fake-secret' },
      maxAttempts: 3,
    });
  }

  get batches(): ExecutedStatement[] {
    return this.executed.filter((e) => e.operation === 'BatchExecuteStatement');
  }

  /** Requests of one operation. */
  calls(operation: string): Record<string, unknown>[] {
    return this.requests.filter((r) => r.operation === operation).map((r) => r.body);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const send = (status: number, body: unknown, errorType?: string): void => {
      res.writeHead(status, {
        'content-type': 'application/x-amz-json-1.1',
        'x-amzn-requestid': randomUUID(),
        ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
      });
      res.end(JSON.stringify(body));
    };
    try {
      const target = String(req.headers['x-amz-target'] ?? '');
      const [service, operation = ''] = target.split('.');
      if (req.method !== 'POST' || service !== 'RedshiftData') throw new ApiError('UnknownOperationException', `unknown target "${target}"`);
      const body = (chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {}) as Record<string, unknown>;
      this.requests.push({ operation, body });
      send(200, this.dispatch(operation, body));
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError('InternalServerException', (err as Error).message, 500);
      send(e.status, { __type: e.type, message: e.message }, e.type);
    }
  }

  private dispatch(operation: string, body: Record<string, unknown>): unknown {
    switch (operation) {
      case 'ExecuteStatement':
        return this.execute('ExecuteStatement', [String(body['Sql'] ?? '')], body);
      case 'BatchExecuteStatement':
        return this.execute('BatchExecuteStatement', Array.isArray(body['Sqls']) ? body['Sqls'].map(String) : [], body);
      case 'DescribeStatement':
        return this.describe(String(body['Id'] ?? ''));
      case 'GetStatementResult':
        return this.result(String(body['Id'] ?? ''));
      default:
        throw new ApiError('UnknownOperationException', `${operation} is not faked`);
    }
  }

  private execute(operation: ExecutedStatement['operation'], sqls: string[], body: Record<string, unknown>): unknown {
    if (operation === 'BatchExecuteStatement' && (sqls.length < 1 || sqls.length > FAKE_MAX_BATCH_STATEMENTS)) {
      throw new ApiError(
        'ValidationException',
        `1 validation error detected: Value at 'sqls' failed to satisfy constraint: Member must have length between 1 and ${FAKE_MAX_BATCH_STATEMENTS}`,
      );
    }
    if (sqls.some((s) => Buffer.byteLength(s, 'utf8') > FAKE_MAX_STATEMENT_BYTES)) {
      throw new ApiError('ValidationException', 'Cannot process query string larger than 100kB');
    }
    const target: Record<string, string> = {};
    for (const k of ['ClusterIdentifier', 'WorkgroupName', 'DbUser', 'SecretArn', 'Database']) {
      if (typeof body[k] === 'string' && body[k] !== '') target[k] = body[k] as string;
    }
    if (!target['ClusterIdentifier'] === !target['WorkgroupName']) {
      throw new ApiError('ValidationException', 'Either ClusterIdentifier or WorkgroupName must be specified, not both');
    }
    if (!target['Database']) throw new ApiError('ValidationException', 'Database is required');
    if (target['WorkgroupName'] && target['DbUser']) throw new ApiError('ValidationException', 'DbUser is not supported for serverless workgroups');

    const token = typeof body['ClientToken'] === 'string' ? body['ClientToken'] : undefined;
    const seen = token ? this.tokens.get(token) : undefined;
    if (seen && this.now() - seen.at < CLIENT_TOKEN_TTL_MS) return this.accepted(this.statements.get(seen.id) as StatementState);

    const executed: ExecutedStatement = {
      id: randomUUID(),
      operation,
      sqls,
      ...(token ? { clientToken: token } : {}),
      ...(typeof body['StatementName'] === 'string' ? { statementName: body['StatementName'] } : {}),
      target,
    };
    const state = this.run(executed);
    this.statements.set(executed.id, state);
    this.executed.push(executed);
    if (token) this.tokens.set(token, { id: executed.id, at: state.createdAt });
    if (this.loseResponses > 0) {
      this.loseResponses--;
      throw new ApiError('InternalServerException', 'response lost (fake)', 500);
    }
    return this.accepted(state);
  }

  /** "Runs" the statements as one transaction: the first failure aborts the rest. */
  private run(executed: ExecutedStatement): StatementState {
    let failure: string | undefined;
    const subs = executed.sqls.map((sql): SubState => {
      if (failure !== undefined) return { sql, status: 'ABORTED', resultRows: -1 };
      const error = this.failWhen(sql);
      if (error !== undefined) {
        failure = error;
        return { sql, status: 'FAILED', resultRows: -1, error };
      }
      const result = isQuery(sql) ? (this.resultFor(sql) ?? { columns: [], rows: [] }) : undefined;
      const resultRows = result ? result.rows.length : isDml(sql) ? (this.rowsFor(sql) ?? 0) : 0;
      return { sql, status: 'FINISHED', resultRows, ...(result ? { result } : {}) };
    });
    return { executed, createdAt: this.now(), subs, describes: 0, pending: [...this.pendingPhases], ...(failure !== undefined ? { failure } : {}) };
  }

  private accepted(s: StatementState): unknown {
    return { Id: s.executed.id, CreatedAt: s.createdAt / 1000, Database: s.executed.target['Database'], ...this.targetEcho(s) };
  }

  private targetEcho(s: StatementState): Record<string, string> {
    const echo: Record<string, string> = {};
    for (const k of ['ClusterIdentifier', 'WorkgroupName', 'DbUser', 'SecretArn']) {
      const v = s.executed.target[k];
      if (v) echo[k] = v;
    }
    return echo;
  }

  private lookup(id: string): { state: StatementState; sub?: number } {
    const m = /^(.*?)(?::(\d+))?$/.exec(id) as RegExpExecArray;
    const state = this.statements.get(m[1] as string);
    if (!state) throw new ApiError('ResourceNotFoundException', `Query ${id} does not exist`);
    if (m[2] === undefined) return { state };
    const sub = Number(m[2]) - 1;
    if (state.executed.operation !== 'BatchExecuteStatement' || sub < 0 || sub >= state.subs.length) {
      throw new ApiError('ResourceNotFoundException', `Query ${id} does not exist`);
    }
    return { state, sub };
  }

  private describe(id: string): unknown {
    const { state } = this.lookup(id);
    const phase = state.pending[state.describes];
    state.describes++;
    const ended = phase === undefined;
    const status = ended ? (state.failure !== undefined ? 'FAILED' : 'FINISHED') : phase;
    const secs = state.createdAt / 1000;
    const common = {
      Id: state.executed.id,
      Status: status,
      Database: state.executed.target['Database'],
      ...this.targetEcho(state),
      CreatedAt: secs,
      UpdatedAt: this.now() / 1000,
      Duration: ended ? 1_000_000 : -1,
      RedshiftPid: 4242,
      ...(ended && state.failure !== undefined ? { Error: state.failure } : {}),
    };
    if (state.executed.operation === 'ExecuteStatement') {
      const sub = state.subs[0] as SubState;
      return { ...common, QueryString: sub.sql, HasResultSet: sub.result !== undefined, ...(ended ? { ResultRows: sub.resultRows } : {}) };
    }
    return {
      ...common,
      HasResultSet: state.subs.some((s) => s.result !== undefined),
      SubStatements: state.subs.map((s, i) => ({
        Id: `${state.executed.id}:${i + 1}`,
        Status: ended ? s.status : status,
        QueryString: s.sql,
        CreatedAt: secs,
        UpdatedAt: this.now() / 1000,
        HasResultSet: s.result !== undefined,
        ...(ended ? { ResultRows: s.resultRows, Duration: 1000 } : {}),
        ...(ended && s.error !== undefined ? { Error: s.error } : {}),
      })),
    };
  }

  private result(id: string): unknown {
    const { state, sub } = this.lookup(id);
    if (state.pending[state.describes] !== undefined || state.failure !== undefined) {
      throw new ApiError('ValidationException', `Query ${id} has not finished`);
    }
    if (state.executed.operation === 'BatchExecuteStatement' && sub === undefined) {
      throw new ApiError('ValidationException', 'GetStatementResult of a batch needs a sub-statement id (<id>:<n>)');
    }
    const r = state.subs[sub ?? 0]?.result;
    if (!r) throw new ApiError('ResourceNotFoundException', `Query ${id} does not have result`);
    return {
      ColumnMetadata: r.columns.map((name) => ({ name, label: name })),
      Records: r.rows.map((row) => row.map(field)),
      TotalNumRows: r.rows.length,
    };
  }
}
