export { extractStateDir, main, runCli } from "./main.ts";
