/**
 * UTF-8 decoding for file.text(): the isolate has no TextDecoder (no Web APIs at all), and the
 * host is not asked, so reading a text upload costs no host round trip.
 */
import { newList, ReflectApply, StringFromCharCode, TypedArrayLength } from './intrinsics.js';

const REPLACEMENT_CHARACTER = 0xfffd;
const TEXT_CHUNK = 8192;
/**
 * UTF-8 -> string as WHATWG TextDecoder('utf-8') does it: a leading BOM is dropped and each
 * maximal invalid subpart becomes one U+FFFD. Code units are built in chunks and turned into
 * strings with String.fromCharCode, which keeps a 10 MB upload to a few milliseconds.
 */
export function decodeUtf8(bytes: Uint8Array): string {
  const n = TypedArrayLength(bytes);
  let text = '';
  let units = newList<number>();
  let count = 0;
  let needed = 0; // continuation bytes the current sequence still lacks
  let codePoint = 0;
  let lower = 0x80; // the bounds of the next continuation byte
  let upper = 0xbf;
  let i = n >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  for (; i < n; i++) {
    const b = bytes[i]!;
    if (needed === 0) {
      if (b < 0x80) units[count++] = b;
      else if (b >= 0xc2 && b <= 0xdf) { needed = 1; codePoint = b & 0x1f; }
      else if (b >= 0xe0 && b <= 0xef) {
        if (b === 0xe0) lower = 0xa0;
        else if (b === 0xed) upper = 0x9f; // no surrogates
        needed = 2;
        codePoint = b & 0x0f;
      } else if (b >= 0xf0 && b <= 0xf4) {
        if (b === 0xf0) lower = 0x90;
        else if (b === 0xf4) upper = 0x8f; // nothing past U+10FFFF
        needed = 3;
        codePoint = b & 0x07;
      } else units[count++] = REPLACEMENT_CHARACTER;
    } else if (b < lower || b > upper) {
      // The sequence is cut short: one U+FFFD for it, and this byte starts afresh.
      needed = 0;
      lower = 0x80;
      upper = 0xbf;
      units[count++] = REPLACEMENT_CHARACTER;
      i--;
    } else {
      lower = 0x80;
      upper = 0xbf;
      codePoint = (codePoint << 6) | (b & 0x3f);
      if (--needed === 0) {
        if (codePoint > 0xffff) {
          codePoint -= 0x10000;
          units[count++] = 0xd800 | (codePoint >> 10);
          units[count++] = 0xdc00 | (codePoint & 0x3ff);
        } else units[count++] = codePoint;
      }
    }
    if (count >= TEXT_CHUNK) {
      text += ReflectApply(StringFromCharCode, undefined, units) as string;
      units = newList<number>();
      count = 0;
    }
  }
  if (needed !== 0) units[count++] = REPLACEMENT_CHARACTER;
  return count === 0 ? text : text + (ReflectApply(StringFromCharCode, undefined, units) as string);
}
