import type { Command } from "commander";
import { UnsupportedError } from "../lib/index.ts";

/** Registers verbs a later issue builds: they accept any arguments and say plainly that they are not built. */
export function addNotYetCommands(
  program: Command,
  verbs: readonly (readonly [verb: string, what: string])[],
): void {
  for (const [verb, what] of verbs) {
    program
      .command(verb)
      .description(`not supported yet: ${what}`)
      .allowUnknownOption()
      .argument("[args...]")
      .action(() => {
        throw new UnsupportedError(what);
      });
  }
}
