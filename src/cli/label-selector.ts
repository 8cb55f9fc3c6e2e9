import { TortieError } from "../lib/index.ts";

type Requirement = (labels: Record<string, string>) => boolean;

/** A label's value, never a property inherited from Object.prototype (`-l constructor` matches no object). */
const own = (l: Record<string, string>, k: string): string | undefined =>
  Object.hasOwn(l, k) ? l[k] : undefined;

/** Kubernetes label selector syntax for `-l`: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`. */
export function parseLabelSelector(text: string): (labels: Record<string, string> | undefined) => boolean {
  const parts: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of text) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      parts.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (cur.trim() !== "" || parts.length > 0) parts.push(cur);
  const reqs: Requirement[] = parts.map((raw) => {
    const p = raw.trim();
    let m = /^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/.exec(p);
    if (m) {
      const [, k, op, v] = m as unknown as [string, string, string, string];
      return op === "!=" ? (l) => own(l, k) !== v : (l) => own(l, k) === v;
    }
    m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(p);
    if (m) {
      const [, k, op, list] = m as unknown as [string, string, string, string];
      const values = list.split(",").map((s) => s.trim());
      return op === "in"
        ? (l) => Object.hasOwn(l, k) && values.includes(l[k]!)
        : (l) => !Object.hasOwn(l, k) || !values.includes(l[k]!);
    }
    m = /^(!?)([\w./-]+)$/.exec(p);
    if (m) {
      const [, neg, k] = m as unknown as [string, string, string];
      return neg ? (l) => !Object.hasOwn(l, k) : (l) => Object.hasOwn(l, k);
    }
    throw new TortieError("Usage", `unable to parse requirement: ${JSON.stringify(p)}`);
  });
  return (labels) => reqs.every((r) => r(labels ?? {}));
}
