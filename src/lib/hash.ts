import { sha256, sha256Words } from "./sha256.ts";

const BASE32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** RFC 4648 base32 (Go's base32.StdEncoding) without padding; callers truncate, so padding never matters. */
export function base32(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32_ALPHABET[(buffer >>> bits) & 31];
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/** base32(sha256(text)): the hash kube-proxy builds its chain names from. */
export function sha256Base32(text: string): string {
  return base32(sha256(text));
}

/**
 * The first `chars` characters of base32(sha256(text)), read straight from the digest words: what chain names
 * keep (kube-proxy 16, nftables 8), with no byte array and no full 52-character encoding.
 */
export function sha256Base32Prefix(text: string, chars: number): string {
  if (chars > 51) return sha256Base32(text).slice(0, chars);
  const words = sha256Words(text);
  let out = "";
  for (let i = 0; i < chars; i++) {
    // Bits [5i, 5i + 5) of the digest, which may straddle two words.
    const bit = i * 5;
    const w = bit >>> 5;
    const off = bit & 31;
    const value =
      off <= 27
        ? (words[w]! >>> (27 - off)) & 31
        : ((words[w]! << (off - 27)) | (words[w + 1]! >>> (59 - off))) & 31;
    out += BASE32_ALPHABET[value];
  }
  return out;
}
