import { TortieError } from "../lib/index.ts";

type Requirement = (labels: Record<string, string>) => boolean;

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
      return op === "!=" ? (l) => l[k] !== v : (l) => l[k] === v;
    }
    m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(p);
    if (m) {
      const [, k, op, list] = m as unknown as [string, string, string, string];
      const values = list.split(",").map((s) => s.trim());
      return op === "in"
        ? (l) => k in l && values.includes(l[k]!)
        : (l) => !(k in l) || !values.includes(l[k]!);
    }
    m = /^(!?)([\w./-]+)$/.exec(p);
    if (m) {
      const [, neg, k] = m as unknown as [string, string, string];
      return neg ? (l) => !(k in l) : (l) => k in l;
    }
    throw new TortieError("Usage", `unable to parse requirement: ${JSON.stringify(p)}`);
  });
  return (labels) => reqs.every((r) => r(labels ?? {}));
}
