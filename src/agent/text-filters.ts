import { pythonJsonTool } from "./json-tool.ts";
import type { CommandResult } from "./sim-commands.ts";

const ok = (stdout: string, code = 0): CommandResult => ({ stdout, stderr: "", code });
const fail = (stderr: string, code: number): CommandResult => ({ stdout: "", stderr, code });

/** The lines of a text as a pipe carries them (a final newline ends the last line, it does not start one). */
function linesOf(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

const joinLines = (lines: string[]): string => lines.map((l) => `${l}\n`).join("");

/**
 * The filters a command's output may be piped into in `tortie shell`, run in-process: grep [-E|-F] [-v] [-i]
 * [-c] [-e PATTERN], head/tail [-n N|-N], wc -l, and python[3] -m json.tool. Undefined when `argv` is none of them.
 */
export function runFilter(argv: string[], input: string): CommandResult | undefined {
  const [cmd, ...args] = argv;
  switch (cmd) {
    case "grep":
    case "egrep":
    case "fgrep":
      return grep(cmd, args, input);
    case "head":
    case "tail":
      return headTail(cmd, args, input);
    case "wc":
      if (args.length === 1 && (args[0] === "-l" || args[0] === "--lines"))
        return ok(`${(input.match(/\n/g) ?? []).length}\n`); // wc counts newlines
      return fail(`not supported yet: wc ${args.join(" ")} in tortie shell (wc -l is)\n`, 1);
    case "python":
    case "python3":
      if (args[0] === "-m" && args[1] === "json.tool") return pythonJsonTool(args.slice(2), input);
      return fail(`not supported yet: ${argv.join(" ")} in tortie shell (python -m json.tool is)\n`, 1);
    default:
      return undefined;
  }
}

/** A POSIX basic regular expression as a JavaScript one: \( \) \{ \} \| \+ \? are the operators. */
function basicToJs(pattern: string): string {
  let out = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "\\" && i + 1 < pattern.length) {
      const n = pattern[++i]!;
      out += "(){}|+?".includes(n) ? n : `\\${n}`;
    } else out += "(){}|+?".includes(c) ? `\\${c}` : c;
  }
  return out;
}

function grep(cmd: string, args: string[], input: string): CommandResult {
  let mode: "basic" | "extended" | "fixed" =
    cmd === "egrep" ? "extended" : cmd === "fgrep" ? "fixed" : "basic";
  let invert = false;
  let ignoreCase = false;
  let count = false;
  const patterns: string[] = [];
  let positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "-e" || a === "--regexp") {
      const p = args[++i];
      if (p === undefined) return fail("grep: option requires an argument -- 'e'\n", 2);
      patterns.push(p);
    } else if (a === "--") {
      positional = positional.concat(args.slice(i + 1));
      break;
    } else if (/^-[EFGvic]+$/.test(a)) {
      for (const c of a.slice(1)) {
        if (c === "E") mode = "extended";
        else if (c === "F") mode = "fixed";
        else if (c === "G") mode = "basic";
        else if (c === "v") invert = true;
        else if (c === "i") ignoreCase = true;
        else if (c === "c") count = true;
      }
    } else if (a.startsWith("-") && a !== "-")
      return fail(`not supported yet: grep ${a} in tortie shell\n`, 2);
    else positional.push(a);
  }
  if (patterns.length === 0) {
    const p = positional.shift();
    if (p === undefined)
      return fail("Usage: grep [OPTION]... PATTERNS [FILE]...\nTry 'grep --help' for more information.\n", 2);
    patterns.push(p);
  }
  if (positional.length > 0)
    return fail(
      `not supported yet: grep reading files in tortie shell (${positional[0]}); pipe into it\n`,
      2,
    );
  let res: RegExp[];
  try {
    res = patterns
      .flatMap((p) => p.split("\n"))
      .map((p) => {
        const source =
          mode === "fixed" ? p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") : mode === "basic" ? basicToJs(p) : p;
        return new RegExp(source, ignoreCase ? "i" : "");
      });
  } catch (e) {
    return fail(`grep: ${(e as Error).message}\n`, 2);
  }
  const hits = linesOf(input).filter((l) => res.some((r) => r.test(l)) !== invert);
  if (count) return ok(`${hits.length}\n`, hits.length ? 0 : 1);
  return ok(joinLines(hits), hits.length ? 0 : 1);
}

function headTail(cmd: "head" | "tail", args: string[], input: string): CommandResult {
  let n = 10;
  let fromStart = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    let v: string | undefined;
    if (a === "-n" || a === "--lines") v = args[++i];
    else if (a.startsWith("--lines=")) v = a.slice("--lines=".length);
    else if (/^-n.+/.test(a)) v = a.slice(2);
    else if (/^-\d+$/.test(a)) v = a.slice(1);
    else return fail(`not supported yet: ${cmd} ${a} in tortie shell\n`, 1);
    if (v === undefined) return fail(`${cmd}: option requires an argument -- 'n'\n`, 1);
    if (cmd === "tail" && v.startsWith("+")) {
      fromStart = true;
      v = v.slice(1);
    }
    if (!/^\d+$/.test(v)) return fail(`${cmd}: invalid number of lines: '${v}'\n`, 1);
    n = Number(v);
  }
  const lines = linesOf(input);
  if (cmd === "head") return ok(joinLines(lines.slice(0, n)));
  if (fromStart) return ok(joinLines(lines.slice(Math.max(0, n - 1))));
  return ok(joinLines(n === 0 ? [] : lines.slice(-n)));
}
