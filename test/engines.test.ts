/** Which engine runs a transform: ENGINE, ENGINE_OVERRIDES, auto by input size, and the transforms DuckDB alone runs. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../lib/config.ts';
import { chooseEngine, engineAttribute } from '../lib/engine/engines.ts';

const settings = (env: Record<string, string>) => loadConfig({ ...process.env, ENGINE: '', ENGINE_OVERRIDES: '', ...env });

describe('engine choice', () => {
  it('takes ENGINE, then a transform override over it', () => {
    const c = settings({ ENGINE: 'spark', ENGINE_OVERRIDES: 'market_daily=duckdb,curate_source_a=spark-k8s' });
    assert.deepEqual(chooseEngine(c, 'weather_daily'), { engine: 'spark', reason: 'ENGINE=spark' });
    assert.equal(chooseEngine(c, 'market_daily').engine, 'duckdb');
    assert.deepEqual(chooseEngine(c, 'curate_source_a'), { engine: 'spark-k8s', reason: 'ENGINE_OVERRIDES curate_source_a=spark-k8s' });
  });

  it('auto picks Spark at the configured input size, DuckDB below it or when the size is unknown', () => {
    const c = settings({ ENGINE: 'auto', ENGINE_AUTO_SPARK_BYTES: '1000', ENGINE_AUTO_SPARK: 'spark-k8s' });
    assert.equal(chooseEngine(c, 'curate_source_a', 1000).engine, 'spark-k8s');
    assert.equal(chooseEngine(c, 'curate_source_a', 999).engine, 'duckdb');
    assert.match(chooseEngine(c, 'curate_source_a').reason, /input size unknown/);
  });

  it('runs a transform without a Spark job on DuckDB, and refuses an override that asks otherwise', () => {
    assert.deepEqual(chooseEngine(settings({ ENGINE: 'spark' }), 'curate_source_b'), { engine: 'duckdb', reason: 'ENGINE=spark: curate_source_b has no Spark job yet' });
    assert.throws(() => settings({ ENGINE_OVERRIDES: 'curate_source_b=spark' }), (err: Error) => err instanceof ConfigError && /curate_source_b has no Spark job yet/.test(err.message));
    assert.throws(() => settings({ ENGINE_OVERRIDES: 'nothing=spark' }), /unknown transform "nothing"/);
    assert.throws(() => settings({ ENGINE: 'flink' }), /ENGINE must be one of/);
  });

  it('names the engines of a run in a fixed order for its search attribute', () => {
    assert.equal(engineAttribute(['spark-k8s', 'duckdb', 'duckdb']), 'duckdb,spark-k8s');
    assert.equal(engineAttribute([]), 'duckdb');
  });
});
