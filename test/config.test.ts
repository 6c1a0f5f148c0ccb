import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, describeConfig, loadConfig } from '../lib/config.ts';

describe('config', () => {
  it('has loopback defaults for every server', () => {
    const c = loadConfig({});
    assert.deepEqual(c.temporalAddress, { host: '127.0.0.1', port: 7233 });
    assert.equal(c.s3Endpoint.toString(), 'http://127.0.0.1:9000/');
    assert.deepEqual(c.kafkaBrokers, ['127.0.0.1:9092']);
    assert.equal(c.postgresPort, 5433);
  });

  it('reads each value from its variable', () => {
    const c = loadConfig({ TEMPORAL_ADDRESS: 'temporal.internal:7000', KAFKA_BROKERS: 'a:1, b:2', XDG_CACHE_HOME: '/x' });
    assert.deepEqual(c.temporalAddress, { host: 'temporal.internal', port: 7000 });
    assert.deepEqual(c.kafkaBrokers, ['a:1', 'b:2']);
    assert.equal(c.cacheDir, path.join('/x', 'tempolake'));
  });

  it('fails naming the variable when a value is bad', () => {
    assert.throws(() => loadConfig({ POSTGRES_PORT: '99999' }), (e: unknown) => e instanceof ConfigError && /POSTGRES_PORT/.test(e.message));
    assert.throws(() => loadConfig({ TEMPORAL_ADDRESS: 'nohost' }), /TEMPORAL_ADDRESS must be host:port/);
    assert.throws(() => loadConfig({ S3_ENDPOINT: 'ftp://x' }), /S3_ENDPOINT must be an http\(s\) URL/);
    assert.throws(() => loadConfig({ S3_SECRET_ACCESS_KEY: 'short' }), /S3_SECRET_ACCESS_KEY must be at least 8/);
    assert.throws(() => loadConfig({ KAFKA_BROKERS: ' , ' }), /KAFKA_BROKERS must list/);
  });

  it('masks secrets when describing the settings', () => {
    const rows = describeConfig({ POSTGRES_PASSWORD: 'hunter22', S3_SECRET_ACCESS_KEY: 'topsecret1' });
    assert.equal(rows.find((r) => r.env === 'POSTGRES_PASSWORD')?.value, '********');
    assert.equal(rows.find((r) => r.env === 'S3_SECRET_ACCESS_KEY')?.value, '********');
    assert.ok(rows.every((r) => r.doc.length > 0));
  });
});
