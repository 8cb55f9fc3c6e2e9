import type { FieldProblem } from "../../lib/index.ts";

/**
 * Field rules from Kubernetes' apimachinery validation (pkg/util/validation), with its messages word for word:
 * config-map keys, IANA service names (named ports), and the 1 MiB limit on ConfigMaps and Secrets.
 */

/** core.MaxSecretSize: a ConfigMap's data plus binaryData, or a Secret's data, in bytes. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
const CONFIG_KEY_MESSAGE =
  "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

/** Go's %q for the strings these messages quote (JSON's escaping is close to it). */
function quoteGo(s: string): string {
  return JSON.stringify(s);
}

/** validation.IsConfigMapKey: every problem with one ConfigMap/Secret key. */
export function configKeyProblems(key: string): string[] {
  const out: string[] = [];
  if (key.length > 253) out.push("must be no more than 253 characters");
  if (!CONFIG_KEY.test(key)) out.push(CONFIG_KEY_MESSAGE);
  if (key === ".") out.push("must not be '.'");
  else if (key === "..") out.push("must not be '..'");
  else if (key.startsWith("..")) out.push("must not start with '..'");
  return out;
}

export function checkConfigKeys(
  field: string,
  map: Record<string, unknown> | undefined,
  other: { field: string; map: Record<string, unknown> | undefined } | undefined,
  out: FieldProblem[],
): void {
  if (!map) return;
  for (const key of Object.keys(map)) {
    const path = `${field}[${key}]`;
    for (const m of configKeyProblems(key))
      out.push({ path, message: `Invalid value: ${quoteGo(key)}: ${m}` });
    if (other?.map && Object.hasOwn(other.map, key))
      out.push({
        path,
        message: `Invalid value: ${quoteGo(key)}: duplicate of key present in ${other.field}`,
      });
  }
}

/** The bytes a map of strings holds (Go's len() of each value: UTF-8 bytes); stops counting past `limit`. */
export function valueBytes(
  map: Record<string, unknown> | undefined,
  limit: number,
  decode?: "base64",
): number {
  let total = 0;
  if (!map) return 0;
  for (const key in map) {
    const v = map[key];
    if (typeof v !== "string") continue;
    // A UTF-16 code unit is at least one UTF-8 byte: a string longer than what is left needs no counting.
    if (decode !== "base64" && v.length > limit - total) return limit + 1;
    total += decode === "base64" ? Math.floor((v.length * 3) / 4) - padding(v) : Buffer.byteLength(v, "utf8");
    if (total > limit) return total;
  }
  return total;
}

function padding(b64: string): number {
  return b64.endsWith("==") ? 2 : b64.endsWith("=") ? 1 : 0;
}

/** field.TooLong's message. */
export function tooLong(limit: number): string {
  return `Too long: must have at most ${limit} bytes`;
}

/** validation.IsValidPortName: an IANA_SVC_NAME (RFC 6335), as Kubernetes checks named ports. */
export function portNameProblems(name: string): string[] {
  const out: string[] = [];
  if (name.length > 15) out.push("must be no more than 15 characters");
  if (!/^[-a-z0-9]+$/.test(name))
    out.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
  if (!/[a-z]/.test(name)) out.push("must contain at least one letter (a-z)");
  if (name.includes("--")) out.push("must not contain consecutive hyphens");
  if (name.startsWith("-") || name.endsWith("-")) out.push("must not begin or end with a hyphen");
  return out;
}

export function checkPortName(path: string, name: string, out: FieldProblem[]): void {
  for (const m of portNameProblems(name))
    out.push({ path, message: `Invalid value: ${quoteGo(name)}: ${m}` });
}
