import { TortieError } from "../lib/index.ts";

/** Kubernetes label selector text (`-l`, `?labelSelector=`), shared by tortie's kubectl and its API server. */

type Requirement = (labels: Record<string, string>) => boolean;

const own = (l: Record<string, string>, k: string): string | undefined =>
  Object.hasOwn(l, k) ? l[k] : undefined;

/** Splits on commas outside parentheses (`a in (x,y),b` is two requirements). */
function splitTopLevel(text: string): string[] {
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
  parts.push(cur);
  return parts;
}

const KEY = "[A-Za-z0-9][-A-Za-z0-9_./]*";
const VALUE = "[-A-Za-z0-9_.]*";

/**
 * The API server's label selector (apimachinery labels.Parse): `a=b`, `a==b`, `a!=b`, `a in (x,y)`,
 * `a notin (x)`, `a`, `!a`, and `a>1`/`a<1` on integer values. A malformed one is a `Usage` error with apimachinery's words
 * (the API server answers it with 400; kubectl's `-l` prints it).
 */
export function parseLabelSelector(text: string): (labels: Record<string, string> | undefined) => boolean {
  if (text.trim() === "") return () => true;
  const reqs: Requirement[] = splitTopLevel(text).map((raw) => {
    const p = raw.trim();
    let m = new RegExp(`^(${KEY})\\s*(==|=|!=)\\s*(${VALUE})$`).exec(p);
    if (m) {
      const [, k, op, v] = m as unknown as [string, string, string, string];
      return op === "!=" ? (l) => own(l, k) !== v : (l) => own(l, k) === v;
    }
    m = new RegExp(`^(${KEY})\\s+(in|notin)\\s*\\(([^)]*)\\)$`).exec(p);
    if (m) {
      const [, k, op, list] = m as unknown as [string, string, string, string];
      const values = list.split(",").map((s) => s.trim());
      return op === "in"
        ? (l) => Object.hasOwn(l, k) && values.includes(l[k]!)
        : (l) => !Object.hasOwn(l, k) || !values.includes(l[k]!);
    }
    m = new RegExp(`^(${KEY})\\s*(<|>)\\s*(-?\\d+)$`).exec(p);
    if (m) {
      const [, k, op, n] = m as unknown as [string, string, string, string];
      const bound = Number(n);
      return (l) => {
        const v = own(l, k);
        if (v === undefined || !/^-?\d+$/.test(v)) return false;
        return op === "<" ? Number(v) < bound : Number(v) > bound;
      };
    }
    m = new RegExp(`^(!?)\\s*(${KEY})$`).exec(p);
    if (m) {
      const [, neg, k] = m as unknown as [string, string, string];
      return neg ? (l) => !Object.hasOwn(l, k) : (l) => Object.hasOwn(l, k);
    }
    throw new TortieError(
      "Usage",
      `unable to parse requirement: ${p === "" ? "found '', expected: identifier" : JSON.stringify(p)}`,
    );
  });
  return (labels) => reqs.every((r) => r(labels ?? {}));
}
