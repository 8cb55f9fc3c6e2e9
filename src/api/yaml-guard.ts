import {
  Composer,
  type CST,
  type Document,
  isCollection,
  isPair,
  type LineCounter,
  type Node,
  Parser,
} from "yaml";
import {
  MAX_MANIFEST_BYTES,
  MAX_MANIFEST_DOCUMENTS,
  MAX_NESTING_DEPTH,
  MAX_YAML_ALIAS_COUNT,
  manifestTooLargeMessage,
  ParseError,
} from "../lib/index.ts";

/**
 * Bounded YAML decoding (lib/limits.ts): the input's size, its number of documents and its nesting depth are
 * checked on the CST, before the yaml package's recursive composer sees it; alias expansion is bounded when
 * a document becomes JS; keys that JS objects cannot hold faithfully (collections, `__proto__`) are refused.
 * Every refusal is a ParseError naming the source and line.
 */

/** Depth of the deepest collection under a CST token, stopping once past `limit`. Iterative: no recursion. */
function cstDepthOver(root: CST.Token, limit: number): CST.Token | undefined {
  const stack: [CST.Token, number][] = [[root, 0]];
  while (stack.length > 0) {
    const [tok, depth] = stack.pop()!;
    if (tok.type === "document") {
      if (tok.value) stack.push([tok.value, depth]);
    } else if (tok.type === "block-map" || tok.type === "block-seq" || tok.type === "flow-collection") {
      const d = depth + 1;
      if (d > limit) return tok;
      for (const item of tok.items) {
        const it = item as { key?: CST.Token | null; value?: CST.Token };
        if (it.key) stack.push([it.key, d]);
        if (it.value) stack.push([it.value, d]);
      }
    }
  }
  return undefined;
}

/** Parses a YAML stream into documents within the limits; throws a ParseError past any of them. */
export function parseDocumentsBounded(
  text: string,
  source: string,
  lineCounter: LineCounter,
): Document.Parsed[] {
  if (text.length > MAX_MANIFEST_BYTES) throw new ParseError(source, manifestTooLargeMessage());
  const parser = new Parser(lineCounter.addNewLine);
  // logLevel "error": the yaml package would otherwise print warnings (complex keys) on the process.
  const composer = new Composer({ prettyErrors: false, uniqueKeys: true, logLevel: "error" });
  let documents = 0;
  function* guarded(tokens: Iterable<CST.Token>): Generator<CST.Token> {
    for (const tok of tokens) {
      // A `...` line ends a document without starting one; both count, so 5 million of either stop early.
      if (tok.type === "document" || tok.type === "doc-end") {
        if (++documents > MAX_MANIFEST_DOCUMENTS)
          throw new ParseError(
            source,
            `too many documents: the limit is ${MAX_MANIFEST_DOCUMENTS}`,
            lineCounter.linePos(tok.offset).line,
          );
      }
      if (tok.type === "document") {
        const deep = cstDepthOver(tok, MAX_NESTING_DEPTH);
        if (deep) {
          const pos = lineCounter.linePos(deep.offset);
          throw new ParseError(source, `exceeded max depth of ${MAX_NESTING_DEPTH}`, pos.line, pos.col);
        }
      }
      yield tok;
    }
  }
  return Array.from(composer.compose(guarded(parser.parse(text))));
}

/** Refuses collection keys (`? [a]: b`, `{[1]: 2}`): JS objects would stringify them, and Go's yaml refuses them. */
export function checkKeys(doc: Document.Parsed, source: string, lineCounter: LineCounter): void {
  const stack: unknown[] = [doc.contents];
  while (stack.length > 0) {
    const node = stack.pop();
    if (!isCollection(node)) continue;
    for (const item of node.items as unknown[]) {
      if (!isPair(item)) {
        stack.push(item);
        continue;
      }
      const key = item.key as Node | null;
      if (isCollection(key)) {
        const pos = lineCounter.linePos((key.range?.[0] ?? 0) as number);
        const text = String(key).replace(/\s+/g, " ").slice(0, 80);
        throw new ParseError(source, `invalid YAML: invalid map key: ${text}`, pos.line, pos.col);
      }
      stack.push(item.value);
    }
  }
}

/**
 * Checks decoded data (after aliases are expanded): nesting within MAX_NESTING_DEPTH, no cycles (an anchor
 * whose value contains its own alias), and no `__proto__` key, which JS code that copies objects with
 * `out[k] = v` would turn into a prototype. Iterative, so hostile data cannot overflow the stack here.
 */
export function checkPlainData(value: unknown, what: (message: string) => Error): void {
  const onPath = new Set<object>();
  const stack: [unknown, number, boolean][] = [[value, 0, false]];
  while (stack.length > 0) {
    const [v, depth, leaving] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    if (leaving) {
      onPath.delete(v);
      continue;
    }
    if (onPath.has(v)) throw what("anchor value contains itself");
    if (depth + 1 > MAX_NESTING_DEPTH) throw what(`exceeded max depth of ${MAX_NESTING_DEPTH}`);
    onPath.add(v);
    stack.push([v, depth, true]);
    if (Array.isArray(v)) for (const x of v) stack.push([x, depth + 1, false]);
    else {
      if (Object.hasOwn(v, "__proto__")) throw what('the key "__proto__" is not allowed');
      for (const k of Object.keys(v)) stack.push([(v as Record<string, unknown>)[k], depth + 1, false]);
    }
  }
}

/** A document as JS data, with alias expansion bounded; alias errors become go-yaml's one-line messages. */
export function documentToJs(doc: Document.Parsed, source: string, line: number): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_YAML_ALIAS_COUNT });
  } catch (e) {
    if (e instanceof RangeError)
      throw new ParseError(source, `invalid YAML: exceeded max depth of ${MAX_NESTING_DEPTH}`, line);
    if (!(e instanceof ReferenceError)) throw e;
    const unresolved = /^Unresolved alias.*: (.*)$/.exec(e.message);
    throw new ParseError(
      source,
      unresolved
        ? `invalid YAML: unknown anchor '${unresolved[1]}' referenced`
        : "invalid YAML: document contains excessive aliasing",
      line,
    );
  }
}
