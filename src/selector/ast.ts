/**
 * Selector AST with Calico's evaluation (missing labels: `!=` and `not in` are true) and canonical form.
 */
export type Labels = Readonly<Record<string, string>>;

export type SelectorNode =
  | { op: "all" }
  | { op: "global" }
  | { op: "has"; label: string }
  | { op: "eq" | "ne" | "contains" | "startswith" | "endswith"; label: string; value: string }
  | { op: "in" | "notin"; label: string; values: string[] }
  | { op: "not"; operand: SelectorNode }
  | { op: "and" | "or"; operands: SelectorNode[] };

export function evaluate(node: SelectorNode, labels: Labels): boolean {
  switch (node.op) {
    case "all":
    case "global":
      return true;
    case "has":
      return Object.hasOwn(labels, node.label);
    case "eq":
      return Object.hasOwn(labels, node.label) && labels[node.label] === node.value;
    case "ne":
      return !Object.hasOwn(labels, node.label) || labels[node.label] !== node.value;
    case "contains":
      return Object.hasOwn(labels, node.label) && labels[node.label]!.includes(node.value);
    case "startswith":
      return Object.hasOwn(labels, node.label) && labels[node.label]!.startsWith(node.value);
    case "endswith":
      return Object.hasOwn(labels, node.label) && labels[node.label]!.endsWith(node.value);
    case "in":
      return Object.hasOwn(labels, node.label) && node.values.includes(labels[node.label]!);
    case "notin":
      return !Object.hasOwn(labels, node.label) || !node.values.includes(labels[node.label]!);
    case "not":
      return !evaluate(node.operand, labels);
    case "and":
      return node.operands.every((n) => evaluate(n, labels));
    case "or":
      return node.operands.some((n) => evaluate(n, labels));
  }
}

/** Values go in `"` unless they contain `"`; Calico has no escapes. */
function quote(v: string): string {
  return v.includes('"') ? `'${v}'` : `"${v}"`;
}

export function canonicalString(node: SelectorNode): string {
  switch (node.op) {
    case "all":
      return "all()";
    case "global":
      return "global()";
    case "has":
      return `has(${node.label})`;
    case "eq":
      return `${node.label} == ${quote(node.value)}`;
    case "ne":
      return `${node.label} != ${quote(node.value)}`;
    case "contains":
      return `${node.label} contains ${quote(node.value)}`;
    case "startswith":
      return `${node.label} starts with ${quote(node.value)}`;
    case "endswith":
      return `${node.label} ends with ${quote(node.value)}`;
    case "in":
    case "notin":
      return `${node.label} ${node.op === "in" ? "in" : "not in"} {${node.values.map(quote).join(", ")}}`;
    case "not":
      return `!${canonicalString(node.operand)}`;
    case "and":
    case "or": {
      const joined = node.operands.map(canonicalString).join(node.op === "and" ? " && " : " || ");
      return node.operands.length > 1 ? `(${joined})` : joined;
    }
  }
}
