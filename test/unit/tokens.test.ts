import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashToken, mintToken, verifyToken } from '../../src/front/auth/tokens.js';

describe('tokens', () => {
  it('mints distinct prefixed tokens of 256 random bits', () => {
    const a = mintToken('ibx_svc');
    assert.match(a, /^ibx_svc_[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a, mintToken('ibx_svc'));
  });

  it('stores only a sha-256 and verifies against it', () => {
    const token = mintToken('ibx_admin');
    const hash = hashToken(token);
    assert.match(hash, /^[0-9a-f]{64}$/);
    assert.ok(verifyToken(token, hash));
    assert.ok(!verifyToken(`${token}x`, hash));
    assert.ok(!verifyToken(token, 'not-a-hash'));
  });

  it('checks against the hash given each time: a token seen before fails once its hash is replaced, and a flood of tokens changes nothing', () => {
    const token = mintToken('ibx_svc');
    assert.ok(verifyToken(token, hashToken(token)));
    const rotated = mintToken('ibx_svc');
    assert.ok(!verifyToken(token, hashToken(rotated)));
    for (let i = 0; i < 3000; i++) assert.ok(!verifyToken(`stranger-${i}`, hashToken(rotated)));
    assert.ok(verifyToken(rotated, hashToken(rotated)));
    assert.ok(verifyToken(token, hashToken(token)));
  });
});
