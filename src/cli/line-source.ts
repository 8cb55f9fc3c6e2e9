import { createInterface, type Interface } from "node:readline";

/** Where a shell reads its command lines. */
export interface LineSource {
  /** The next line, or undefined at the end of input; on a terminal `prompt` is shown first. */
  next(prompt: string): Promise<string | undefined>;
  /** A terminal: prompts are shown (bash shows none when it reads a pipe). */
  readonly interactive: boolean;
  /** Stops reading (standard input would keep the process alive). */
  close?(): void;
}

/** Lines of a text. Interactive, it prints each prompt and echoes the line after it, as a terminal would. */
export function textLines(text: string, interactive = false, echo?: (t: string) => void): LineSource {
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  let i = 0;
  return {
    interactive,
    next: async (prompt) => {
      const line = lines[i++];
      if (interactive && echo) echo(line === undefined ? prompt : `${prompt}${line}\n`);
      return line;
    },
  };
}

/**
 * Standard input through readline: a prompt and line editing on a terminal, plain lines from a pipe. On a
 * terminal Ctrl-D ends the input of the shell reading it only (a nested shell returns to its parent); the next
 * read opens readline again.
 */
export function stdinLines(): LineSource {
  const interactive = process.stdin.isTTY === true;
  const queue: string[] = [];
  let rl: Interface | undefined;
  let ended = false;
  let waiting: ((line: string | undefined) => void) | undefined;
  const open = (): Interface => {
    const r = createInterface({
      input: process.stdin,
      output: interactive ? process.stdout : undefined,
      terminal: interactive,
    });
    r.on("line", (line) => {
      if (waiting) {
        const w = waiting;
        waiting = undefined;
        w(line);
      } else queue.push(line);
    });
    r.on("close", () => {
      if (rl === r) rl = undefined;
      // A pipe that closes has ended; a terminal's Ctrl-D ends only the current read.
      if (!interactive) ended = true;
      const w = waiting;
      waiting = undefined;
      w?.(undefined);
    });
    // Ctrl-C drops the line being typed and prompts again, as bash does.
    r.on("SIGINT", () => {
      process.stdout.write("^C\n");
      r.write(null, { ctrl: true, name: "u" });
      r.prompt();
    });
    return r;
  };
  return {
    interactive,
    close: () => {
      ended = true;
      rl?.close();
    },
    next: (prompt) => {
      const queued = queue.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      if (ended) return Promise.resolve(undefined);
      rl ??= open();
      if (interactive) {
        rl.setPrompt(prompt);
        rl.prompt();
      }
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
  };
}
