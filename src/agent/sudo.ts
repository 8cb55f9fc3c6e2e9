import type { CommandResult } from "./sim-commands.ts";

/** Options that change nothing on the sim (every command already runs as root) and take no value. */
const HARMLESS_FLAGS = new Set(["E", "H", "n", "S", "k", "P", "b"]);
const HARMLESS_LONG = new Set([
  "--preserve-env",
  "--set-home",
  "--non-interactive",
  "--stdin",
  "--reset-timestamp",
  "--preserve-groups",
]);

const fail = (stderr: string, code = 1): CommandResult => ({ stdout: "", stderr, code });

/**
 * `sudo [OPTIONS] COMMAND [ARGS...]`: the sim runs every command as root, so sudo only strips its options and
 * runs COMMAND. Options that would change who runs it or how (-u another user, -g, -i, -s, -e, -l) are refused.
 */
export function sudo(args: string[], run: (argv: string[]) => CommandResult): CommandResult {
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") {
      i++;
      break;
    }
    if (!a.startsWith("-") || a === "-") break;
    if (a === "-u" || a === "--user") {
      const user = args[++i];
      if (user === undefined) return fail("sudo: option requires an argument -- 'u'\n");
      if (user !== "root" && user !== "#0")
        return fail(`not supported yet: sudo -u ${user} on the sim dataplane (commands run as root)\n`);
      continue;
    }
    if (a.startsWith("--user=")) {
      const user = a.slice("--user=".length);
      if (user !== "root" && user !== "#0")
        return fail(`not supported yet: sudo -u ${user} on the sim dataplane (commands run as root)\n`);
      continue;
    }
    if (HARMLESS_LONG.has(a) || a.startsWith("--preserve-env=")) continue;
    if (/^-[A-Za-z]+$/.test(a) && [...a.slice(1)].every((c) => HARMLESS_FLAGS.has(c))) continue;
    return fail(`not supported yet: sudo ${a} on the sim dataplane\n`);
  }
  // VAR=value words before the command set its environment; the emulated tools read none.
  while (i < args.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(args[i]!)) i++;
  const command = args.slice(i);
  if (command.length === 0) return fail("usage: sudo [-EHkn] [-u root] [VAR=value] command [arg ...]\n");
  return run(command);
}
