/**
 * `weather_impact`: customers active in a region (source A's events there) whose events per
 * day on the days meeting a weather condition differ from a baseline by at least
 * `min_change`, with their attributes from source B's latest row.
 *
 * Condition days: days of from..to with the region's daily weather meeting the condition.
 * Baseline days: the given window's calendar days, or else the days of from..to with
 * weather that do not meet it. A customer with no baseline activity and some on condition
 * days is listed with `activity_change` NULL (no ratio to a zero).
 */
import { qualified } from '../lake/tables.ts';
import { sqlString } from '../lake/session.ts';
import { CURATED_SOURCE_A, CURATED_SOURCE_B } from '../lake/tables.ts';
import { OPERATIONAL_WEATHER_DAILY } from '../weather/tables.ts';
import { CONDITION_OPERATORS, type AnalysisRequest } from './requests.ts';

type WeatherImpact = Extract<AnalysisRequest, { type: 'weather_impact' }>;

const date = (d: string): string => `DATE ${sqlString(d)}`;

export function weatherImpactSql(r: WeatherImpact): string {
  const region = sqlString(r.region_id);
  // metric and operator come from fixed menus (the request schema's enums), never from free text.
  const test = `"${r.condition.metric}" ${CONDITION_OPERATORS[r.condition.operator]} ${Number(r.condition.threshold)}`;
  const baseline = r.baseline
    ? `SELECT CAST(range AS DATE) AS "day" FROM range(${date(r.baseline.from)}, ${date(r.baseline.to)} + INTERVAL 1 DAY, INTERVAL 1 DAY)`
    : 'SELECT "day" FROM weather WHERE NOT meets';
  const first = r.baseline && r.baseline.from < r.from ? r.baseline.from : r.from;
  const last = r.baseline && r.baseline.to > r.to ? r.baseline.to : r.to;
  return `WITH weather AS (
      SELECT "day", coalesce(${test}, false) AS meets FROM ${qualified(OPERATIONAL_WEATHER_DAILY)}
      WHERE region_id = ${region} AND "day" BETWEEN ${date(r.from)} AND ${date(r.to)}
    ), flags AS (
      SELECT "day", true AS is_condition FROM weather WHERE meets
      UNION ALL
      SELECT "day", false FROM (${baseline})
    ), counts AS (
      SELECT count(*) FILTER (WHERE is_condition) AS condition_days, count(*) FILTER (WHERE NOT is_condition) AS baseline_days FROM flags
    ), events AS (
      SELECT customer_id, "day", count(*) AS events, sum(amount) AS amount FROM ${qualified(CURATED_SOURCE_A)}
      WHERE region = ${region} AND "day" BETWEEN ${date(first)} AND ${date(last)} GROUP BY customer_id, "day"
    ), per_customer AS (
      SELECT e.customer_id,
        coalesce(sum(e.events) FILTER (WHERE f.is_condition), 0) AS events_condition,
        coalesce(sum(e.events) FILTER (WHERE NOT f.is_condition), 0) AS events_baseline,
        coalesce(sum(e.amount) FILTER (WHERE f.is_condition), 0) AS amount_condition,
        coalesce(sum(e.amount) FILTER (WHERE NOT f.is_condition), 0) AS amount_baseline
      FROM events e JOIN flags f ON f."day" = e."day" GROUP BY e.customer_id
    ), rates AS (
      SELECT p.*, c.condition_days, c.baseline_days,
        p.events_condition / nullif(c.condition_days, 0) AS events_per_day_condition,
        p.events_baseline / nullif(c.baseline_days, 0) AS events_per_day_baseline,
        p.amount_condition / nullif(c.condition_days, 0) AS amount_per_day_condition,
        p.amount_baseline / nullif(c.baseline_days, 0) AS amount_per_day_baseline
      FROM per_customer p CROSS JOIN counts c
    ), attributes AS (
      SELECT customer_id, name, segment, signup_date FROM ${qualified(CURATED_SOURCE_B)}
      QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY updated_at DESC NULLS LAST, "day" DESC) = 1
    )
    SELECT r.customer_id, a.name, a.segment, a.signup_date,
      CAST(r.condition_days AS INTEGER) AS condition_days, CAST(r.baseline_days AS INTEGER) AS baseline_days,
      CAST(r.events_condition AS BIGINT) AS events_condition, CAST(r.events_baseline AS BIGINT) AS events_baseline,
      r.events_per_day_condition, r.events_per_day_baseline, r.amount_per_day_condition, r.amount_per_day_baseline,
      r.events_per_day_condition / nullif(r.events_per_day_baseline, 0) - 1 AS activity_change
    FROM rates r LEFT JOIN attributes a ON a.customer_id = r.customer_id
    WHERE r.condition_days > 0 AND (
      abs(r.events_per_day_condition / nullif(r.events_per_day_baseline, 0) - 1) >= ${Number(r.min_change)}
      OR (coalesce(r.events_per_day_baseline, 0) = 0 AND r.events_per_day_condition > 0))`;
}
