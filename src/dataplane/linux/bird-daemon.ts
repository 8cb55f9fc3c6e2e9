/**
 * A host's real BIRD: its files under <stateDir>/linux/<host>/bird/, run in the host's namespace in the
 * foreground of its own session (so it keeps that directory as its working directory and confd's relative
 * `include`s resolve on every `configure`), its control socket beside them.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BirdSpec } from "../../calc/index.ts";
import { firstLine, runCommand } from "./exec.ts";
import type { BirdBinaries } from "./host-tools.ts";
import { alive, startInNetns } from "./processes.ts";

/** Unix socket paths are limited to 107 bytes. */
const MAX_SOCKET_PATH = 107;

export function birdDir(linuxDir: string, host: string): string {
  return join(linuxDir, host, "bird");
}

export function birdSocketPath(linuxDir: string, host: string): string {
  const p = join(birdDir(linuxDir, host), "bird.ctl");
  if (Buffer.byteLength(p) > MAX_SOCKET_PATH)
    throw new Error(`BIRD's control socket path ${p} is longer than 107 bytes: use a shorter state dir`);
  return p;
}

/** Writes BIRD's files; true when any of them changed (or a file was removed). */
export function writeBirdFiles(dir: string, spec: BirdSpec): boolean {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let changed = false;
  const wanted = new Set<string>();
  for (const [name, text] of Object.entries(spec.files)) {
    if (name.includes("..") || name.startsWith("/"))
      throw new Error(`BIRD file name "${name}" leaves its directory`);
    wanted.add(name);
    const path = join(dir, name);
    let old: string | undefined;
    try {
      old = readFileSync(path, "utf8");
    } catch {}
    if (old !== text) {
      mkdirSync(join(path, ".."), { recursive: true });
      writeFileSync(path, text, { mode: 0o600 });
      changed = true;
    }
  }
  if (!wanted.has(spec.main)) throw new Error(`BIRD's main file ${spec.main} is not among its files`);
  return changed;
}

/** Starts BIRD and waits for its control socket; throws with BIRD's own first complaint when it exits. */
export async function startBird(
  netns: string,
  dir: string,
  spec: BirdSpec,
  binaries: BirdBinaries,
  timeoutMs = 5000,
): Promise<number> {
  const sock = join(dir, "bird.ctl");
  rmSync(sock, { force: true });
  const log = join(dir, "bird.out");
  writeFileSync(log, "", { mode: 0o600 });
  const b = binaries[spec.dialect];
  const pid = startInNetns(
    netns,
    [b.bird, "-f", "-c", join(dir, spec.main), "-s", sock, "-P", join(dir, "bird.pid")],
    log,
    dir,
  );
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (existsSync(sock)) {
      const r = await runCommand(b.birdc, ["-s", sock, "show", "status"], { timeoutMs: 2000 });
      if (r.code === 0 && /BIRD/.test(r.stdout)) return pid;
    }
    if (!alive(pid)) {
      const out = readFileSync(log, "utf8");
      throw new Error(`${netns}: ${b.bird} -c ${spec.main} exited: ${firstLine(out) || "no output"}`);
    }
    if (Date.now() > deadline)
      throw new Error(`${netns}: ${b.bird} did not open ${sock} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** `birdc configure`; throws with BIRD's message when it refuses the new files (it keeps running the old ones). */
export async function reconfigureBird(netns: string, sock: string, birdc: string): Promise<void> {
  const r = await runCommand(birdc, ["-s", sock, "configure"], { timeoutMs: 10_000 });
  if (r.code !== 0 || !/Reconfigur|Configuration OK/i.test(r.stdout)) {
    const said = r.stdout
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !/^BIRD .*ready\.$/.test(l) && !/^Reading configuration/.test(l));
    throw new Error(`${netns}: ${birdc} configure: ${said[0] ?? (firstLine(r.stderr) || "no answer")}`);
  }
}
