import { formatIp, parseIp } from "../../net/index.ts";

/**
 * Small readings of values the way calico's Go code reads them (confd compares and prints strings, so the exact text
 * matters): durations, AS numbers, IP strings, `ip:port` peer addresses.
 */

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-9,
  us: 1e-6,
  µs: 1e-6,
  μs: 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
};

/** Go's time.ParseDuration, in seconds; undefined when the text is not a duration. */
export function parseGoDurationSeconds(text: string): number | undefined {
  let s = text.trim();
  if (s === "") return undefined;
  let sign = 1;
  if (s[0] === "-" || s[0] === "+") {
    if (s[0] === "-") sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  let total = 0;
  const re = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (s !== "") {
    const m = re.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    s = s.slice(m[0].length);
  }
  return sign * total;
}

/** `fmt.Sprintf("%v", int(math.Round(d.Seconds())))` of a metav1.Duration, or "" when unset or unreadable. */
export function durationSecondsText(value: unknown): string {
  if (typeof value !== "string") return "";
  const secs = parseGoDurationSeconds(value);
  if (secs === undefined) return "";
  // math.Round rounds half away from zero.
  const r = secs < 0 ? -Math.round(-secs) : Math.round(secs);
  return String(r);
}

/** numorstring.ASNumber: an integer, a decimal string, or dotted "high.low"; 0 when unset or unreadable. */
export function asNumberOf(value: unknown): number {
  if (typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 0xffffffff) return value;
  if (typeof value === "string") {
    const dotted = /^(\d+)\.(\d+)$/.exec(value);
    if (dotted) {
      const hi = Number(dotted[1]);
      const lo = Number(dotted[2]);
      if (hi <= 0xffff && lo <= 0xffff) return hi * 65536 + lo;
      return 0;
    }
    if (/^\d+$/.test(value)) {
      const n = Number(value);
      if (n <= 0xffffffff) return n;
    }
  }
  return 0;
}

/** True when an AS number field is present (a pointer that is set, in Go). */
export function hasValue(value: unknown): boolean {
  return value !== undefined && value !== null;
}

/** Go's net.IP.String() of an address written as text; undefined when it is not an address. */
export function canonicalIp(text: string): string | undefined {
  const ip = parseIp(text);
  return ip ? formatIp(ip) : undefined;
}

/** net.SplitHostPort then strconv.ParseUint(port, 0, 16), as confd's parseIPPort: `[host, port]`, port 0 if none. */
export function parseIpPort(text: string): [string, number] {
  let host: string;
  let port: string;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end === -1 || text[end + 1] !== ":") return [text, 0];
    host = text.slice(1, end);
    port = text.slice(end + 2);
  } else {
    const i = text.lastIndexOf(":");
    if (i === -1 || text.indexOf(":") !== i) return [text, 0];
    host = text.slice(0, i);
    port = text.slice(i + 1);
  }
  let n: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(port)) n = Number.parseInt(port.slice(2), 16);
  else if (/^0[oO]?[0-7]+$/.test(port)) n = Number.parseInt(port.replace(/^0[oO]?/, ""), 8);
  else if (/^0[bB][01]+$/.test(port)) n = Number.parseInt(port.slice(2), 2);
  else if (/^\d+$/.test(port)) n = Number(port);
  else return [text, 0];
  if (n > 0xffff) return [text, 0];
  return [host, n];
}

/** The secretKeyRef of a password field ({secretKeyRef: {name, key}}), if any. */
export function secretKeyRefOf(value: unknown): { name: string; key: string } | undefined {
  if (!value || typeof value !== "object") return undefined;
  const ref = (value as { secretKeyRef?: { name?: unknown; key?: unknown } }).secretKeyRef;
  if (!ref || typeof ref !== "object") return undefined;
  return {
    name: typeof ref.name === "string" ? ref.name : "",
    key: typeof ref.key === "string" ? ref.key : "",
  };
}
