import {
  Composer,
  type CST,
  type Document,
  isAlias,
  isCollection,
  isMap,
  isPair,
  isScalar,
  type LineCounter,
  type Node,
  Parser,
  visit,
} from "yaml";
import {
  isPlainObject,
  MAX_MANIFEST_BYTES,
  MAX_MANIFEST_DOCUMENTS,
  MAX_NESTING_DEPTH,
  MAX_YAML_ALIAS_COUNT,
  MAX_YAML_ALIAS_WORK,
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
  // uniqueKeys false: the yaml package compares each key with every earlier one (40,000 keys took 24 s);
  // `checkKeys` finds duplicates with a set instead, with the same rule and message.
  const composer = new Composer({ prettyErrors: false, uniqueKeys: false, logLevel: "error" });
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

/**
 * Refuses collection keys (`? [a]: b`, `{[1]: 2}`): JS objects would stringify them, and Go's yaml refuses them.
 * Refuses a key twice in one mapping as the yaml package's `uniqueKeys` does (scalars with equal values).
 */
export function checkKeys(doc: Document.Parsed, source: string, lineCounter: LineCounter): void {
  const stack: unknown[] = [doc.contents];
  while (stack.length > 0) {
    const node = stack.pop();
    if (!isCollection(node)) continue;
    const seen = isMap(node) ? new Set<unknown>() : undefined;
    for (const item of node.items as unknown[]) {
      if (!isPair(item)) {
        stack.push(item);
        continue;
      }
      // An alias used as a key counts as what it names (`? *seq : b` is a collection key too).
      const written = item.key as Node | null;
      const key = isAlias(written) ? written.resolve(doc) : written;
      if (isCollection(key)) {
        const pos = lineCounter.linePos((written?.range?.[0] ?? 0) as number);
        const text = String(key).replace(/\s+/g, " ").slice(0, 80);
        throw new ParseError(source, `invalid YAML: invalid map key: ${text}`, pos.line, pos.col);
      }
      if (seen && isScalar(written)) {
        if (seen.has(written.value)) {
          const pos = lineCounter.linePos((written.range?.[0] ?? 0) as number);
          throw new ParseError(source, "invalid YAML: Map keys must be unique", pos.line, pos.col);
        }
        seen.add(written.value);
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

/**
 * Refuses a document whose aliases times nodes is past MAX_YAML_ALIAS_WORK: resolving each alias costs the yaml
 * package (and `checkKeys`) a scan of the document. Run before anything resolves an alias.
 */
export function checkAliasWork(doc: Document.Parsed, source: string, line: number): void {
  let nodes = 0;
  let aliases = 0;
  visit(doc, {
    Node(_, node) {
      nodes++;
      if (isAlias(node)) aliases++;
    },
  });
  if (aliases * nodes > MAX_YAML_ALIAS_WORK)
    throw new ParseError(source, "invalid YAML: document contains excessive aliasing", line);
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

/**
 * Whether `value` as JSON is over `limit` bytes. A lower bound is counted first, without building any text,
 * and stops once past the limit: 100 aliases of one 15 MiB scalar pass the alias bound, and JSON.stringify of
 * them would build gigabytes. Only a value within the bound is stringified for the exact size.
 */
export function jsonOver(value: unknown, limit: number): boolean {
  let atLeast = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    // Each string is at least its UTF-16 length in UTF-8 bytes, plus its quotes.
    if (typeof v === "string") atLeast += v.length + 2;
    else if (Array.isArray(v)) {
      atLeast += v.length + 1;
      for (const x of v) stack.push(x);
    } else if (ArrayBuffer.isView(v)) atLeast += v.byteLength * 2;
    else if (isPlainObject(v)) {
      for (const [k, x] of Object.entries(v)) {
        atLeast += k.length + 4;
        stack.push(x);
      }
    } else atLeast += 1;
    if (atLeast > limit) return true;
  }
  return Buffer.byteLength(JSON.stringify(value) ?? "") > limit;
}
