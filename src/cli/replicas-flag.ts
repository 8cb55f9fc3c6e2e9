import { TortieError } from "../lib/index.ts";

const INT64_MAX = 2n ** 63n - 1n;
const INT32_MAX = 2n ** 31n - 1n;

/** strconv.ParseInt(s, 0, 64)'s syntax: an optional sign, then decimal, 0x hex, 0o/0 octal or 0b binary. */
function parseGoInt(s: string): bigint | "syntax" | "range" {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[oO]?[0-7]+|0[bB][01]+|[1-9][0-9]*|0)$/.exec(s);
  if (!m) return "syntax";
  const body = m[2]!;
  const digits = /^0[0-7]+$/.test(body) ? `0o${body.slice(1)}` : body;
  const v = BigInt(digits) * (m[1] === "-" ? -1n : 1n);
  return v > INT64_MAX || v < -INT64_MAX - 1n ? "range" : v;
}

/**
 * `kubectl scale --replicas`: pflag's int flag, kubectl's own check, then the Scale subresource's int32 field. kubectl
 * converts to int32 without a check (2147483648 wraps to a negative size); tortie refuses it with the decode error
 * the API server gives a number that does not fit.
 */
export function parseReplicasFlag(text: string): number {
  const v = parseGoInt(text);
  if (typeof v === "string")
    throw new TortieError(
      "Usage",
      `invalid argument ${JSON.stringify(text)} for "--replicas" flag: strconv.ParseInt: parsing ${JSON.stringify(text)}: ${v === "syntax" ? "invalid syntax" : "value out of range"}`,
    );
  if (v < 0n)
    throw new TortieError(
      "Invalid",
      "The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0",
    );
  if (v > INT32_MAX)
    throw new TortieError(
      "Invalid",
      `Scale in version "v1" cannot be handled as a Scale: json: cannot unmarshal number ${v} into Go struct field ScaleSpec.spec.replicas of type int32`,
    );
  return Number(v);
}
