/**
 * Go's fmt verbs as calicoctl uses them on counts. JavaScript's toPrecision/toFixed round half up and print
 * "e+5"; Go rounds the exact decimal value half to even and prints "e+05".
 */

/** Rounds a decimal digit string (no leading zeros) to `n` significant digits, half to even. */
function roundDigits(digits: string, n: number): { digits: string; carry: boolean } {
  if (digits.length <= n) return { digits, carry: false };
  const kept = digits.slice(0, n);
  const rest = digits.slice(n);
  const half = `5${"0".repeat(rest.length - 1)}`;
  const up = rest > half || (rest === half && Number(kept.at(-1)) % 2 === 1);
  if (!up) return { digits: kept, carry: false };
  const bumped = (BigInt(kept) + 1n).toString();
  return bumped.length > n ? { digits: bumped.slice(0, n), carry: true } : { digits: bumped, carry: false };
}

/** Go's `%.<precision>g` for a non-negative integral float64 (a count, or a power of two). */
export function goFormatG(value: number, precision = 5): string {
  if (!Number.isFinite(value) || value < 0 || !Number.isInteger(value))
    throw new Error(`goFormatG handles non-negative integral values, got ${value}`);
  if (value === 0) return "0";
  const exact = BigInt(value).toString(); // the float64's exact decimal value
  let dp = exact.length;
  const r = roundDigits(exact, precision);
  if (r.carry) dp++;
  const digits = r.digits.replace(/0+$/, "");
  const nd = digits.length;
  const eprec = precision > nd && nd >= dp ? nd : precision;
  const exp = dp - 1;
  if (exp < -4 || exp >= eprec) {
    const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${mantissa}e+${String(exp).padStart(2, "0")}`;
  }
  return digits.padEnd(dp, "0");
}

/** Go's `%.f`: no decimals, rounding the exact binary value half to even (37.5 → 38, 62.5 → 62). */
export function goFormatF0(value: number): string {
  const floor = Math.floor(value);
  const frac = value - floor;
  const rounded = frac > 0.5 ? floor + 1 : frac < 0.5 ? floor : floor % 2 === 0 ? floor : floor + 1;
  return String(rounded === 0 ? 0 : rounded);
}
