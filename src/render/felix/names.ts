import { sha256 } from "../../lib/index.ts";

/** iptables chain names are at most 28 characters. */
const MAX_CHAIN = 28;

function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64url");
}

/**
 * libcalico-go's `GetLengthLimitedID(prefix, suffix, 28)`: the plain name when it fits, otherwise the prefix,
 * `_`, and as much of the base64url SHA-256 of the suffix as fits.
 */
export function lengthLimitedName(prefix: string, suffix: string, max = MAX_CHAIN): string {
  const plain = prefix + suffix;
  if (plain.length < max || (plain.length === max && !suffix.startsWith("_"))) return plain;
  return `${prefix}_${base64url(sha256(suffix)).slice(0, max - 1 - prefix.length)}`;
}

/** Felix's IP set names: `cali40` + a kind letter + `:` + a hash of what the set stands for (31 chars max). */
export function ipsetName(kind: "s" | "n", key: string): string {
  return `cali40${kind}:${base64url(sha256(key)).slice(0, 22)}`;
}
