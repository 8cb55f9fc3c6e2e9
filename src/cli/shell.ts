import { type CommandResult, runFilter } from "../agent/index.ts";
import { readTopology } from "../control/index.ts";
import { isTortieError, TortieError } from "../lib/index.ts";
import type { CliContext } from "./context.ts";
import { execOnSim, openLazySimCluster, runOnSim, simTarget } from "./exec.ts";
import { type LineSource, textLines } from "./line-source.ts";

const SHELLS = new Set(["sh", "bash", "/bin/sh", "/bin/bash", "/usr/bin/bash", "/usr/bin/sh"]);

/**
 * `exec … -- bash` opens a shell on standard input; `exec … -- sh -c 'LINE'` runs LINE in one. Undefined when
 * COMMAND is not a shell, for the caller to run it as a command.
 */
function execShell(ctx: CliContext, target: string, command: string[]): Promise<number> | undefined {
  if (!SHELLS.has(command[0] ?? "")) return undefined;
  if (command.length === 1) return runShell(ctx, target);
  if (command.length === 3 && command[1] === "-c") {
    const source = textLines(command[2]!);
    return runShell({ ...ctx, lines: () => source }, target);
  }
  return undefined;
}

const sources = new WeakMap<CliContext, LineSource>();

/** The context's line source, created once (nested shells read on from the same input). */
function lineSource(ctx: CliContext): LineSource {
  if (ctx.lines) return ctx.lines();
  let s = sources.get(ctx);
  if (!s) {
    s = textLines(ctx.stdin());
    sources.set(ctx, s);
  }
  return s;
}

/** The prompt a real shell there shows: the lab's ubuntu user on a host, root in a container. */
/**
 * The environment a login there starts with: the lab's ubuntu user on a host, root in a container. Never the
 * real machine's (ssh does not carry it over either).
 */
function shellEnvironment(target: string): Map<string, string> {
  const slash = target.indexOf("/");
  const host = slash < 0 ? target : target.slice(slash + 1);
  const user = slash < 0 ? "ubuntu" : "root";
  return new Map([
    ["HOME", slash < 0 ? "/home/ubuntu" : "/root"],
    ["USER", user],
    ["LOGNAME", user],
    ["HOSTNAME", host],
    ["SHELL", "/bin/bash"],
    ["PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
  ]);
}

function shellPrompt(target: string): string {
  const slash = target.indexOf("/");
  return slash < 0 ? `ubuntu@${target}:~$ ` : `root@${target.slice(slash + 1)}:/# `;
}

type Token = { word: string; quoted: boolean } | { op: "|" | "||" | "&&" | ";" };

/**
 * A line the shell cannot run: syntax bash has but this shell does not (`unsupported`; an unterminated quote or
 * a trailing | would make bash read on), or a real syntax error.
 */
class ShellSyntaxError extends Error {
  constructor(
    message: string,
    readonly unsupported = true,
  ) {
    super(message);
  }
}

/** Splits a command line: quotes, backslashes, $VAR / ${VAR} / $? expansion, | || && ; and # comments. */
export function tokenize(line: string, vars: ReadonlyMap<string, string>): Token[] {
  const out: Token[] = [];
  let word = "";
  let inWord = false;
  let quoted = false;
  const flush = () => {
    if (inWord && (word !== "" || quoted)) out.push({ word, quoted });
    word = "";
    inWord = false;
    quoted = false;
  };
  const expand = (i: number): [string, number] => {
    const rest = line.slice(i + 1);
    if (rest.startsWith("(")) throw new ShellSyntaxError("command substitution $(...)");
    const braced = /^\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(rest);
    const plain = /^([A-Za-z_][A-Za-z0-9_]*|\?)/.exec(rest);
    const m = braced ?? plain;
    if (!m) return ["$", i + 1];
    return [vars.get(m[1]!) ?? "", i + 1 + m[0].length];
  };
  for (let i = 0; i < line.length; ) {
    const c = line[i]!;
    if (c === " " || c === "\t") {
      flush();
      i++;
    } else if (c === "#" && !inWord) break;
    else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new ShellSyntaxError("an unterminated ' quote");
      word += line.slice(i + 1, end);
      inWord = quoted = true;
      i = end + 1;
    } else if (c === '"') {
      inWord = quoted = true;
      i++;
      for (;;) {
        if (i >= line.length) throw new ShellSyntaxError('an unterminated " quote');
        const d = line[i]!;
        if (d === '"') {
          i++;
          break;
        }
        if (d === "\\" && '"\\$`'.includes(line[i + 1] ?? "")) {
          word += line[i + 1];
          i += 2;
        } else if (d === "$") {
          const [v, next] = expand(i);
          word += v;
          i = next;
        } else if (d === "`") throw new ShellSyntaxError("command substitution `...`");
        else {
          word += d;
          i++;
        }
      }
    } else if (c === "\\") {
      word += line[i + 1] ?? "";
      inWord = true;
      i += 2;
    } else if (c === "$") {
      const [v, next] = expand(i);
      word += v;
      inWord = true;
      i = next;
    } else if (c === "|" || c === "&" || c === ";") {
      flush();
      const two = line.slice(i, i + 2);
      if (two === "||" || two === "&&") {
        out.push({ op: two });
        i += 2;
      } else if (c === "&") throw new ShellSyntaxError("background jobs (&)");
      else {
        out.push({ op: c });
        i++;
      }
    } else if (c === ">" || c === "<") throw new ShellSyntaxError(`redirection (${c})`);
    else if (c === "`") throw new ShellSyntaxError("command substitution `...`");
    else {
      word += c;
      inWord = true;
      i++;
    }
  }
  flush();
  return out;
}

/** A command line as and-or lists of pipelines. */
function parse(tokens: Token[]): { pipeline: string[][]; after: "&&" | "||" | ";" }[] {
  const lists: { pipeline: string[][]; after: "&&" | "||" | ";" }[] = [];
  let pipeline: string[][] = [];
  let argv: string[] = [];
  const endCommand = (op: string) => {
    if (argv.length === 0) throw new ShellSyntaxError(`syntax error near unexpected token \`${op}'`, false);
    pipeline.push(argv);
    argv = [];
  };
  for (const t of tokens) {
    if ("word" in t) argv.push(t.word);
    else if (t.op === "|") endCommand(t.op);
    else {
      endCommand(t.op);
      lists.push({ pipeline, after: t.op });
      pipeline = [];
    }
  }
  if (argv.length > 0) pipeline.push(argv);
  else if (pipeline.length > 0) throw new ShellSyntaxError("syntax error: unexpected end of line after |");
  if (pipeline.length > 0) lists.push({ pipeline, after: ";" });
  return lists;
}

/** tortie's own tools, which a cluster host has (kubectl and calicoctl on the labs' hosts); a pod has none. */
const HOST_CLI_TOOLS = new Set(["kubectl", "calicoctl", "calicoq"]);

/** COMMAND as one of tortie's own tools runs it (`sudo` in front only makes it root), else undefined. */
function hostToolCommand(command: string[]): string[] | undefined {
  const argv = command[0] === "sudo" && HOST_CLI_TOOLS.has(command[1] ?? "") ? command.slice(1) : command;
  return HOST_CLI_TOOLS.has(argv[0] ?? "") ? argv : undefined;
}

/**
 * `exec TARGET -- COMMAND` and `kubectl exec`: one of tortie's own tools (on a host; a pod has none, as a real
 * container), a shell, or a command the sim runs. Returns the exit status.
 */
export async function execCommand(ctx: CliContext, target: string, command: string[]): Promise<number> {
  const tool = hostToolCommand(command);
  const linux = await linuxModule(ctx);
  if (!tool)
    return (
      execShell(ctx, target, command) ??
      (linux ? linux.execOnLinux(ctx, target, command) : execOnSim(ctx, target, command))
    );
  await checkTarget(ctx, target, linux);
  // The container runtime cannot start it: an error, not an exit code (kubectl prints no "command terminated").
  if (target.includes("/"))
    throw new TortieError("Internal", `exec: "${tool[0]}": executable file not found in $PATH`);
  const { runCli } = await import("./main.ts");
  return runCli(tool, { ...ctx, onHost: { name: target, root: command[0] === "sudo" } });
}

/**
 * `tortie shell TARGET`: a shell on a host or in a pod. Each line runs the emulated commands (exec's path:
 * the cluster is reloaded from the store and the dataplane state saved per command); on a host, kubectl,
 * calicoctl and calicoq are tortie's own and `ssh HOST` opens a shell there. Pipes into grep, head, tail,
 * wc -l and python -m json.tool run in-process. Returns the shell's exit status.
 */
export async function runShell(ctx: CliContext, target: string): Promise<number> {
  await checkTarget(ctx, target, await linuxModule(ctx));
  const source = lineSource(ctx);
  depth++;
  try {
    return await shellLoop(ctx, target, source);
  } finally {
    // The outermost shell is done with standard input.
    if (--depth === 0) source.close?.();
  }
}

let depth = 0;

async function shellLoop(ctx: CliContext, target: string, source: LineSource): Promise<number> {
  const onHost = !target.includes("/");
  const vars = shellEnvironment(target);
  let status = 0;
  for (;;) {
    const line = await source.next(shellPrompt(target));
    if (line === undefined) {
      // Ctrl-D at the prompt: bash says "exit" and leaves with the last status.
      if (source.interactive) ctx.out("exit\n");
      return status;
    }
    let lists: ReturnType<typeof parse>;
    try {
      lists = parse(tokenize(line, new Map([...vars, ["?", String(status)]])));
    } catch (e) {
      if (!(e instanceof ShellSyntaxError)) throw e;
      ctx.err(`tortie shell: ${e.unsupported ? "not supported yet: " : ""}${e.message}\n`);
      status = 2;
      continue;
    }
    let skip = false;
    for (const { pipeline, after } of lists) {
      if (!skip) {
        const first = pipeline[0]!;
        if (first[0] === "exit" && pipeline.length === 1) {
          const code = first[1] === undefined ? status : Number(first[1]);
          return Number.isInteger(code) ? code & 255 : 2;
        }
        status = await runPipeline(ctx, target, onHost, pipeline, vars, source);
      }
      skip = (after === "&&" && status !== 0) || (after === "||" && status === 0);
    }
  }
}

async function runPipeline(
  ctx: CliContext,
  target: string,
  onHost: boolean,
  pipeline: string[][],
  vars: Map<string, string>,
  source: LineSource,
): Promise<number> {
  const [first, ...filters] = pipeline;
  const piped = filters.length > 0;
  let r: CommandResult;
  try {
    r = await runCommand(ctx, target, onHost, first!, vars, source, piped);
  } catch (e) {
    if (!isTortieError(e)) throw e;
    ctx.err(`error: ${e.message}\n`);
    return 1;
  }
  for (const f of filters) {
    ctx.err(r.stderr);
    const next = runFilter(f, r.stdout);
    r = next ?? {
      stdout: "",
      stderr: `tortie shell: not supported yet: ${f[0]} in a pipe (grep, head, tail, wc -l, python -m json.tool are)\n`,
      code: 127,
    };
  }
  ctx.out(r.stdout);
  ctx.err(r.stderr);
  return r.code;
}

/** One simple command. Its output is returned (piped on or printed) unless it is a tortie command run unpiped. */
async function runCommand(
  ctx: CliContext,
  target: string,
  onHost: boolean,
  argv: string[],
  vars: Map<string, string>,
  source: LineSource,
  piped: boolean,
): Promise<CommandResult> {
  const done = (stdout = "", stderr = "", code = 0): CommandResult => ({ stdout, stderr, code });
  let words = argv;
  if (words[0] === "export") words = words.slice(1);
  const assignments = words.filter((w) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(w));
  if (assignments.length === words.length) {
    for (const a of assignments) vars.set(a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1));
    return done();
  }
  if (words[0] === "true" || words[0] === ":") return done();
  if (words[0] === "false") return done("", "", 1);
  if (words[0] === "echo") {
    const noNewline = words[1] === "-n";
    return done(`${words.slice(noNewline ? 2 : 1).join(" ")}${noNewline ? "" : "\n"}`);
  }
  const root = words[0] === "sudo";
  words = hostToolCommand(words) ?? words;
  const cmd = words[0]!;
  if (HOST_CLI_TOOLS.has(cmd) || cmd === "ssh") {
    if (!onHost) return done("", `bash: ${cmd}: command not found\n`, 127);
    const { runCli } = await import("./main.ts");
    let out = "";
    let err = "";
    const sub: CliContext = {
      ...ctx,
      out: piped
        ? (t) => {
            out += t;
          }
        : ctx.out,
      err: piped
        ? (t) => {
            err += t;
          }
        : ctx.err,
      lines: () => source,
      onHost: { name: target, root },
    };
    if (cmd === "ssh") {
      if (words.length !== 2 || words[1]!.startsWith("-"))
        return done("", "tortie shell: not supported yet: ssh with options or a command; use ssh HOST\n", 1);
      return done(out, err, await runShell(sub, words[1]!.replace(/^[^@]*@/, "")));
    }
    const code = await runCli(words, sub);
    return done(out, err, code);
  }
  const linux = await linuxModule(ctx);
  if (!linux) return runOnSim(ctx, target, words);
  // On linux the real tool runs: printed live unless piped into a filter (then its output is collected).
  if (piped) return linux.runOnLinux(ctx, target, words);
  return done("", "", await linux.execOnLinux(ctx, target, words));
}

type LinuxExec = typeof import("./exec-linux.ts");

/** exec-linux's commands when the cluster runs on the linux dataplane; undefined on the sim. */
async function linuxModule(ctx: CliContext): Promise<LinuxExec | undefined> {
  if ((await readTopology(ctx.store()))?.dataplane !== "linux") return undefined;
  return import("./exec-linux.ts");
}

/** A NotFound error unless TARGET is a host or a running pod of the cluster. */
async function checkTarget(ctx: CliContext, target: string, linux: LinuxExec | undefined): Promise<void> {
  if (!linux) {
    simTarget(await openLazySimCluster(ctx), target);
    return;
  }
  linux.linuxTarget((await linux.openLinux(ctx)).description, target);
}
