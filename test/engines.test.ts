/** Which engine runs a transform: ENGINE, ENGINE_OVERRIDES, auto by input size; every transform has its Spark job. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../lib/config.ts';
import { chooseEngine, engineAttribute, TRANSFORMS } from '../lib/engine/engines.ts';

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

  it('has a Spark job for every transform, so ENGINE=spark runs each of them there', () => {
    const missing = TRANSFORMS.filter((t) => !existsSync(new URL(`../deploy/spark/jobs/${t}.py`, import.meta.url)));
    assert.deepEqual(missing, [], 'transforms without deploy/spark/jobs/<transform>.py');
    const c = settings({ ENGINE: 'spark', ENGINE_OVERRIDES: 'curate_source_b=spark-k8s' });
    assert.deepEqual(chooseEngine(c, 'curate_source_b'), { engine: 'spark-k8s', reason: 'ENGINE_OVERRIDES curate_source_b=spark-k8s' });
    for (const t of TRANSFORMS) assert.notEqual(chooseEngine(c, t).engine, 'duckdb', t);
  });

  it('refuses unknown transforms and engines, naming them', () => {
    assert.throws(() => settings({ ENGINE_OVERRIDES: 'nothing=spark' }), (err: Error) => err instanceof ConfigError && /unknown transform "nothing"/.test(err.message));
    assert.throws(() => settings({ ENGINE_OVERRIDES: 'curate_source_b=flink' }), /must be one of/);
    assert.throws(() => settings({ ENGINE: 'flink' }), /ENGINE must be one of/);
  });

  it('names the engines of a run in a fixed order for its search attribute', () => {
    assert.equal(engineAttribute(['spark-k8s', 'duckdb', 'duckdb']), 'duckdb,spark-k8s');
    assert.equal(engineAttribute([]), 'duckdb');
  });
});
