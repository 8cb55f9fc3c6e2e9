import type { SelectorNode } from "./ast.ts";

/**
 * Prefixes every label a selector reads, as libcalico-go's parseSelectorAttachPrefix does when it turns a
 * namespace selector into one over `pcns.` labels (or a service-account selector over `pcsa.` labels).
 */
export function withLabelPrefix(node: SelectorNode, prefix: string): SelectorNode {
  switch (node.op) {
    case "all":
    case "global":
      return node;
    case "not":
      return { op: "not", operand: withLabelPrefix(node.operand, prefix) };
    case "and":
    case "or":
      return { op: node.op, operands: node.operands.map((n) => withLabelPrefix(n, prefix)) };
    default:
      return { ...node, label: prefix + node.label };
  }
}
