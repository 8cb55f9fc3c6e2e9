/**
 * kubectl's template printers: `-o go-template=…`, `go-template-file=…`, `template`/`templatefile`,
 * `jsonpath=…`, `jsonpath-file=…`, `jsonpath-as-json=…`, `custom-columns=…`, `custom-columns-file=…`,
 * with kubectl's messages for bad templates and failed executions.
 */
import { TortieError } from "../lib/index.ts";
import { readFileBounded } from "./bounded-read.ts";
import type { CliContext } from "./context.ts";
import { formatSharpV, formatV, type GoData, goJson, goQuote, isMap } from "./go-fmt.ts";
import { ExecError, GoTemplate, TemplateError } from "./go-template.ts";
import { JsonPath, JsonPathError } from "./jsonpath.ts";
import { formatTable, KUBECTL_STYLE } from "./tabwriter.ts";

const GO_TEMPLATE = ["go-template", "go-template-file", "template", "templatefile"];
const JSONPATH = ["jsonpath", "jsonpath-file", "jsonpath-as-json"];
const CUSTOM_COLUMNS = ["custom-columns", "custom-columns-file"];

/** Every `-o` format kubectl get accepts, as its error message lists them. */
export const ALLOWED_FORMATS =
  "custom-columns,custom-columns-file,go-template,go-template-file,json,jsonpath,jsonpath-as-json,jsonpath-file,name,template,templatefile,wide,yaml";

/** `go-template=X` → ["go-template", "X"]; a bare format name → [name, --template's value]. */
function splitFormat(output: string, template: string | undefined): [string, string | undefined] {
  for (const f of [...GO_TEMPLATE, ...JSONPATH, ...CUSTOM_COLUMNS])
    if (output.startsWith(`${f}=`)) return [f, output.slice(f.length + 1)];
  return [output, template];
}

/** Whether `-o OUTPUT` names one of the template printers. */
export function isTemplateFormat(output: string | undefined): boolean {
  if (output === undefined) return false;
  const [format] = splitFormat(output, undefined);
  return [...GO_TEMPLATE, ...JSONPATH, ...CUSTOM_COLUMNS].includes(format);
}

function readTemplateFile(path: string, flag = "--template"): string {
  try {
    // Bounded as `-f` is (lib/limits.ts), so `--template /dev/zero` is refused instead of filling memory.
    return readFileBounded(path);
  } catch (e) {
    if (e instanceof TortieError) throw e;
    // Go's os.ReadFile words: the open fails on a missing or unreadable file, the read on a directory.
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? `open ${path}: no such file or directory`
        : code === "EACCES"
          ? `open ${path}: permission denied`
          : code === "EISDIR"
            ? `read ${path}: is a directory`
            : `open ${path}: ${(e as Error).message}`;
    throw new TortieError("Invalid", `error reading ${flag} ${path}, ${why}`);
  }
}

/** The text a template printer prints for `data` (an object, or kubectl's List of them). */
export function printWithTemplate(
  ctx: CliContext,
  output: string,
  template: string | undefined,
  data: GoData,
  opts: { noHeaders?: boolean } = {},
): void {
  const [format, value] = splitFormat(output, template);
  if (CUSTOM_COLUMNS.includes(format)) {
    if (!value)
      throw new TortieError("Invalid", "custom-columns format specified but no custom columns given");
    const spec = format === "custom-columns-file" ? readTemplateFile(value, "template") : value;
    ctx.out(customColumns(format === "custom-columns-file" ? fileSpec(spec) : spec, data, opts.noHeaders));
    return;
  }
  if (!value) throw new TortieError("Invalid", "template format specified but no template given");
  const text = format.endsWith("file") ? readTemplateFile(value) : value;
  if (GO_TEMPLATE.includes(format)) {
    let t: GoTemplate;
    try {
      t = new GoTemplate(text);
    } catch (e) {
      if (e instanceof TemplateError)
        throw new TortieError("Invalid", `error parsing template ${text}, ${e.message}`);
      throw e;
    }
    try {
      ctx.out(t.execute(data));
    } catch (e) {
      if (!(e instanceof ExecError)) throw e;
      ctx.out(
        `${e.partial}Error executing template: ${e.message}. Printing more information for debugging the template:\n` +
          `\ttemplate was:\n\t\t${text}\n` +
          `\traw data was:\n\t\t${goJson(data)}\n` +
          `\tobject given to template engine was:\n\t\t${formatV(data)}\n\n`,
      );
      throw new TortieError("Invalid", `error executing template ${goQuote(text)}: ${e.message}`);
    }
    return;
  }
  let p: JsonPath;
  try {
    p = new JsonPath(text);
  } catch (e) {
    if (e instanceof JsonPathError)
      throw new TortieError("Invalid", `error parsing jsonpath ${text}, ${e.message}`);
    throw e;
  }
  try {
    if (format === "jsonpath-as-json") {
      ctx.out(
        p
          .findAll(data)
          .map((results) => `${goJson(results, 4)}\n`)
          .join(""),
      );
    } else ctx.out(p.execute(data));
  } catch (e) {
    if (!(e instanceof JsonPathError)) throw e;
    throw new TortieError(
      "Invalid",
      `error executing jsonpath ${goQuote(text)}: Error executing template: ${e.message}. Printing more information for debugging the template:\n` +
        `\ttemplate was:\n\t\t${text}\n` +
        // kubectl's message ends in three newlines; the CLI adds the last one after every error.
        `\tobject given to jsonpath engine was:\n\t\t${formatSharpV(data)}\n\n`,
      { multiline: true },
    );
  }
}

/** A custom-columns file: a line of headers, then a line of paths, whitespace-separated. */
function fileSpec(text: string): string {
  const lines = text.split("\n");
  const usage =
    "Expected format is one line of space separated headers, one line of space separated column specs.";
  if (lines.length < 1 || (lines.length === 1 && lines[0] === ""))
    throw new TortieError("Invalid", `invalid template, missing header line. ${usage}`);
  if (lines.length < 2 || (lines.length === 2 && lines[1] === ""))
    throw new TortieError("Invalid", `invalid template, missing spec line. ${usage}`);
  const words = (l: string) => l.split(/\s+/).filter((w) => w !== "");
  const headers = words(lines[0]!);
  const paths = words(lines[1]!);
  if (headers.length !== paths.length)
    throw new TortieError(
      "Invalid",
      `number of headers (${headers.length}) and field specifications (${paths.length}) don't match`,
    );
  return headers.map((h, i) => `${h}:${paths[i]}`).join(",");
}

/** kubectl's RelaxedJSONPathExpression: `.a.b`, `a.b`, `{.a.b}` → `{.a.b}`. */
function relaxedPath(expr: string): string {
  if (expr === "") return expr;
  const m = /^\{\.?([^{}]+)\}$|^\.?([^{}]+)$/.exec(expr);
  if (!m)
    throw new TortieError(
      "Invalid",
      "unexpected path string, expected a 'name1.name2' or '.name1.name2' or '{name1.name2}' or '{.name1.name2}'",
    );
  return `{.${m[1] || m[2]}}`;
}

function customColumns(spec: string, data: GoData, noHeaders = false): string {
  const columns = spec.split(",").map((part) => {
    const i = part.indexOf(":");
    if (i < 0)
      throw new TortieError(
        "Invalid",
        `unexpected custom-columns spec: ${part}, expected <header>:<json-path-expr>`,
      );
    const path = relaxedPath(part.slice(i + 1));
    try {
      return { header: part.slice(0, i), parser: new JsonPath(path) };
    } catch (e) {
      if (e instanceof JsonPathError) throw new TortieError("Invalid", e.message);
      throw e;
    }
  });
  const isList = isMap(data) && Array.isArray(data.items) && data.kind === "List";
  const objects = isList ? (data.items as GoData[]) : [data];
  const rows: string[][] = noHeaders ? [] : [columns.map((c) => c.header)];
  for (const o of objects) {
    rows.push(
      columns.map(({ parser }) => {
        const found = parser.findAll(o);
        const values = found.flat().map((v) => formatV(v));
        if (found.length === 0 || found[0]!.length === 0) values.unshift("<none>");
        return values.join(",");
      }),
    );
  }
  return formatTable(rows, KUBECTL_STYLE);
}
