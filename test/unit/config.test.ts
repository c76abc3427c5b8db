import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CONFIG_KEYS, loadConfig } from '../../src/config.js';

describe('loadConfig', () => {
  it('uses the documented defaults when nothing is given', () => {
    const c = loadConfig();
    assert.equal(c.server.port, 8080);
    assert.equal(c.server.host, '0.0.0.0');
    assert.equal(c.store.dataDir, './data');
    assert.equal(c.auth.adminToken, '');
    assert.equal(c.workers.intraOpThreads, 1);
    assert.equal(c.sandbox.memoryLimitMb, 128);
    assert.equal(c.sandbox.timeoutMs, 1000);
  });

  it('takes flags over environment over defaults', () => {
    const c = loadConfig({ env: { PORT: '9000', INFERBOX_DATA: '/env' }, argv: ['--port', '9100'] });
    assert.equal(c.server.port, 9100);
    assert.equal(c.store.dataDir, '/env');
  });

  it('returns a frozen object', () => {
    const c = loadConfig();
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.server));
  });

  it('fails listing every bad key at once', () => {
    assert.throws(
      () => loadConfig({ env: { PORT: 'eighty', INFERBOX_SANDBOX_MEMORY_LIMIT_MB: '1' } }),
      (err: Error) => /server\.port \(PORT="eighty"\)/.test(err.message) && /sandbox\.memoryLimitMb/.test(err.message),
    );
  });

  it('rejects unknown flags', () => {
    assert.throws(() => loadConfig({ argv: ['--prot', '1'] }), /Unknown option '--prot'/);
  });

  it('names env vars INFERBOX_* except the four DESIGN.md fixes', () => {
    for (const [key, spec] of Object.entries(CONFIG_KEYS)) {
      assert.ok(['PORT', 'HOST'].includes(spec.env) || spec.env.startsWith('INFERBOX_'), key);
    }
  });
});
