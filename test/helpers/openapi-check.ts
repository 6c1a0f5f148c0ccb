/**
 * The API's OpenAPI document as a test oracle: the document must validate (swagger-parser),
 * and every response a test receives must be one the document declares for that operation —
 * status, media type and body (JSON Schema 2020-12 via ajv). NDJSON lines are checked against
 * the row schema of the operation's JSON page, and a CSV header against its columns.
 */
import assert from 'node:assert/strict';
import SwaggerParser from '@apidevtools/swagger-parser';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { isDay } from '../../lib/time/days.ts';

export interface CapturedResponse {
  readonly method: string;
  /** The request target: path and query as sent. */
  readonly path: string;
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

type Schema = Record<string, unknown>;

interface MediaType {
  schema?: Schema;
}

interface ResponseObject {
  content?: Record<string, MediaType>;
  headers?: Record<string, unknown>;
}

interface Operation {
  responses: Record<string, ResponseObject>;
}

interface PathMatcher {
  readonly template: string;
  readonly pattern: RegExp;
  readonly literalChars: number;
  readonly operations: Record<string, Operation>;
}

export interface Contract {
  /** The dereferenced document. */
  readonly document: Record<string, unknown>;
  /** Asserts `res` is a response the document declares; returns the parsed JSON body if any. */
  check(res: CapturedResponse): unknown;
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json$/;

function mediaTypeOf(header: string | string[] | undefined): string | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  return v?.split(';')[0]?.trim().toLowerCase();
}

function createAjv(): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  ajv.addFormat('date', (s: string) => isDay(s));
  ajv.addFormat('date-time', (s: string) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(s) && !Number.isNaN(Date.parse(s)));
  ajv.addFormat('binary', () => true);
  // OpenAPI's annotation keywords that are not JSON Schema's.
  ajv.addKeyword({ keyword: 'example' });
  return ajv;
}

export async function loadContract(document: unknown): Promise<Contract> {
  // validate() both checks the document against the OpenAPI 3.1 schema and the spec's rules.
  await SwaggerParser.validate(structuredClone(document) as never);
  const deref = (await SwaggerParser.dereference(structuredClone(document) as never)) as unknown as Record<string, unknown>;
  const paths = deref['paths'] as Record<string, Record<string, Operation>>;
  const problemSchema = (deref['components'] as { schemas: Record<string, Schema> }).schemas['Problem'] as Schema;
  const matchers: PathMatcher[] = Object.entries(paths).map(([template, operations]) => ({
    template,
    pattern: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}/g, '[^/]+')}$`),
    literalChars: template.replace(/\{[^}]+\}/g, '').length,
    operations,
  }));
  const ajv = createAjv();
  const compiled = new WeakMap<Schema, ValidateFunction>();
  const validator = (schema: Schema): ValidateFunction => {
    let v = compiled.get(schema);
    if (!v) compiled.set(schema, (v = ajv.compile(schema)));
    return v;
  };
  const assertValid = (schema: Schema, value: unknown, what: string): void => {
    const v = validator(schema);
    assert.ok(v(value), `${what} does not match the document: ${ajv.errorsText(v.errors)}\n${JSON.stringify(value).slice(0, 800)}`);
  };

  const checkProblem = (res: CapturedResponse, what: string): unknown => {
    assert.equal(mediaTypeOf(res.headers['content-type']), 'application/problem+json', `${what}: content type`);
    const body: unknown = JSON.parse(res.body.toString('utf8'));
    assertValid(problemSchema, body, what);
    assert.equal((body as { status: number }).status, res.status, `${what}: problem status equals the HTTP status`);
    return body;
  };

  return {
    document: deref,
    check(res) {
      const what = `${res.method} ${res.path} → ${res.status}`;
      const pathname = new URL(res.path, 'http://x').pathname;
      const candidates = matchers.filter((m) => m.pattern.test(pathname)).sort((a, b) => b.literalChars - a.literalChars);
      const method = res.method.toLowerCase() === 'head' ? 'get' : res.method.toLowerCase();
      const matched = candidates.find((m) => m.operations[method]);
      if (!matched) {
        // Not an operation of the document: only the router's own answers are allowed (and
        // the body parser's, 400 and 413, which runs before routing).
        const allowed = candidates.length > 0 ? [400, 405, 413] : [400, 404, 413];
        assert.ok(allowed.includes(res.status), `${what}: not an operation of the document, so it must be one of ${allowed.join('/')}`);
        return checkProblem(res, what);
      }
      const op = matched.operations[method] as Operation;
      const declared = op.responses[String(res.status)] ?? op.responses['default'];
      assert.ok(declared, `${what}: status not declared for ${method.toUpperCase()} ${matched.template} (declared: ${Object.keys(op.responses).join(', ')})`);
      for (const name of Object.keys(declared.headers ?? {})) {
        assert.ok(res.headers[name.toLowerCase()] !== undefined, `${what}: declared header ${name} is missing`);
      }
      if (!declared.content) {
        assert.equal(res.body.length, 0, `${what}: no content is declared, yet the body is not empty`);
        return undefined;
      }
      const type = mediaTypeOf(res.headers['content-type']);
      assert.ok(type && declared.content[type], `${what}: content type ${type} not declared (declared: ${Object.keys(declared.content).join(', ')})`);
      const schema = (declared.content[type] as MediaType).schema;
      const text = res.body.toString('utf8');
      if (JSON_TYPE.test(type)) {
        const body: unknown = JSON.parse(text);
        if (schema) assertValid(schema, body, what);
        return body;
      }
      // Streams: the rows are those of the same operation's JSON pages.
      const rowSchema = ((declared.content['application/json']?.schema?.['properties'] as Record<string, Schema> | undefined)?.['rows']?.['items'] ?? undefined) as Schema | undefined;
      if (type === 'application/x-ndjson') {
        const lines = text.split('\n');
        assert.equal(lines.pop(), '', `${what}: NDJSON ends with a newline`);
        lines.forEach((line, i) => {
          const row: unknown = JSON.parse(line);
          if (rowSchema) assertValid(rowSchema, row, `${what} line ${i + 1}`);
        });
      } else if (type === 'text/csv') {
        const header = text.slice(0, text.indexOf('\r\n'));
        const columns = rowSchema?.['properties'] ? Object.keys(rowSchema['properties'] as Schema) : undefined;
        if (columns) assert.equal(header, columns.join(','), `${what}: CSV header lists the row schema's columns`);
      }
      return undefined;
    },
  };
}
