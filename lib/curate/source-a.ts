/**
 * Source A (daily customer activity, nested JSON lines) → curated.source_a.
 * Every line is read as text first so a malformed one is kept whole, with its line
 * number and the reason, instead of failing the file or vanishing silently.
 * A has a 3-day lag: raw day D lands in curated partition D-3.
 */
import type { LakeSession } from '../lake/session.ts';
import { sqlString } from '../lake/session.ts';

/** Reads one JSON-lines file into the staging table `staged_a` (created on first use). */
export async function stageSourceA(session: LakeSession, opts: { location: string; rawKey: string }): Promise<void> {
  const loc = sqlString(opts.location);
  await session.run(`CREATE TEMP TABLE IF NOT EXISTS staged_a (
    raw_key VARCHAR, line BIGINT, reason VARCHAR, record VARCHAR,
    event_id VARCHAR, customer_id VARCHAR, region VARCHAR, event_time TIMESTAMPTZ, amount DOUBLE,
    currency VARCHAR, channel VARCHAR, device VARCHAR, campaign_id VARCHAR, campaign_name VARCHAR, tags VARCHAR[])`);
  // Lines are read as one VARCHAR column: a delimiter that never occurs, no quoting.
  await session.run(`INSERT INTO staged_a
    WITH lines AS (
      SELECT row_number() OVER () AS line, l AS record
      FROM read_csv(${loc}, columns = {'l': 'VARCHAR'}, header = false, delim = E'\\x1f', quote = '', escape = '',
                    auto_detect = false, new_line = '\\n', strict_mode = false)
    ), parsed AS (
      SELECT line, record,
        json_transform(try_cast(record AS JSON), '{"event_id":"VARCHAR","customer_id":"VARCHAR","region":"VARCHAR",
          "event_time":"VARCHAR","amount":"VARCHAR","currency":"VARCHAR","channel":"VARCHAR",
          "attributes":{"device":"VARCHAR","campaign":{"id":"VARCHAR","name":"VARCHAR"},"tags":["VARCHAR"]}}') AS j
      FROM lines
      WHERE record IS NOT NULL AND trim(record) <> ''
    ), checked AS (
      SELECT line, record, j,
        try_cast(j.event_time AS TIMESTAMPTZ) AS ts, try_cast(j.amount AS DOUBLE) AS amt,
        CASE
          WHEN j IS NULL THEN 'not a JSON object'
          WHEN j.event_id IS NULL THEN 'missing event_id'
          WHEN j.customer_id IS NULL THEN 'missing customer_id'
          WHEN j.region IS NULL THEN 'missing region'
          WHEN j.event_time IS NULL THEN 'missing event_time'
          WHEN try_cast(j.event_time AS TIMESTAMPTZ) IS NULL THEN 'event_time is not a timestamp: ' || j.event_time
          WHEN j.amount IS NULL THEN 'missing amount'
          WHEN try_cast(j.amount AS DOUBLE) IS NULL THEN 'amount is not a number: ' || j.amount
        END AS reason
      FROM parsed
    )
    SELECT ${sqlString(opts.rawKey)}, line, reason, CASE WHEN reason IS NOT NULL THEN record END,
      j.event_id, j.customer_id, j.region, ts, amt, j.currency, j.channel,
      j.attributes.device, j.attributes.campaign.id, j.attributes.campaign.name, j.attributes.tags
    FROM checked`);
}

/** Rows for curated.source_a from `staged_a`, in the table's column order. */
export function sourceARowsSql(opts: { curatedDay: string; ingestDay: string }): string {
  return `SELECT event_id, customer_id, region, event_time, amount, currency, channel, device, campaign_id, campaign_name, tags,
      DATE ${sqlString(opts.curatedDay)}, DATE ${sqlString(opts.ingestDay)}, raw_key, line
    FROM staged_a WHERE reason IS NULL`;
}

export const SOURCE_A_REJECTED_SQL = 'SELECT line, reason, record FROM staged_a WHERE reason IS NOT NULL';
