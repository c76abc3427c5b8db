import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A new random token: 32 bytes, base64url, with a prefix that says what it is for. */
export function mintToken(prefix: 'ibx_admin' | 'ibx_svc'): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

/** Tokens are stored only as their sha-256 (hex). */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * A map that forgets its oldest entry past `max`: a cache of values that are a pure function of
 * their key, so a stale entry cannot exist, and a flood of new keys costs misses, never memory.
 */
class Recent<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string, compute: (key: string) => V): V {
    let value = this.map.get(key);
    if (value === undefined) {
      value = compute(key);
      if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value!);
      this.map.set(key, value);
    }
    return value;
  }
}

/**
 * The sha-256 of presented tokens and the bytes of stored hashes, kept for the next request of the
 * same caller: a hash per check was 7 % of the front's CPU on an iris call (#14). Only the hash of
 * a token is kept, never a verdict: every check compares with the hash stored now, so a rotated or
 * deleted deployment's token fails at once.
 */
const presentedDigests = new Recent<Buffer>(1024);
const storedDigests = new Recent<Buffer>(1024);
const sha256 = (token: string) => createHash('sha256').update(token, 'utf8').digest();
const fromHex = (hex: string) => Buffer.from(hex, 'hex');

/** Constant-time comparison of a presented token with a stored hash. */
export function verifyToken(token: string, storedHash: string): boolean {
  const presented = presentedDigests.get(token, sha256);
  const stored = storedDigests.get(storedHash, fromHex);
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}
