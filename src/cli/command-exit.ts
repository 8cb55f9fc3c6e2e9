/** A command run through exec finished with this exit code (not an error of tortie's own). */
export class CommandExit extends Error {
  constructor(readonly code: number) {
    super(`command exited with status ${code}`);
  }
}
