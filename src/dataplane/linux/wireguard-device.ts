/**
 * WireGuard on the linux dataplane: wireguard-go on a TUN device in the host's namespace (issue 19: this machine's
 * tortie uses the userspace implementation), configured with `wg syncconf`.
 *
 * wireguard-go and `wg` meet at a UAPI socket, /run/wireguard/<device>.sock, a path with no namespace in it: every
 * host's `wireguard.cali` would share one. So each namespace gets its own socket directory in the state dir, bound
 * over /run/wireguard in the mount namespace `ip netns exec` makes for the process (a slave of the host's, so the
 * bind stays private to it): wireguard-go, tortie's own `wg` and a user's `tortie exec node1 -- wg show` all see
 * that namespace's devices and no other's.
 *
 * `ip -br link` tells the two implementations apart only by their flags: a TUN prints
 * `<POINTOPOINT,MULTICAST,NOARP,UP,LOWER_UP>`, kernel WireGuard `<POINTOPOINT,NOARP,UP,LOWER_UP>`; both are
 * `UNKNOWN` with no MAC. The `links` query drops the flags (calc's normaliseLinks), which is where that difference
 * is normalised away.
 */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { KernelCommandResult, LinkSpec } from "../../calc/index.ts";
import { commandError, inNetns } from "./exec.ts";
import { wireguardConfText } from "./tunnel-commands.ts";

/** Where wireguard-go and wg look for the device's socket (wireguard-go's and wireguard-tools' compiled-in path). */
export const WIREGUARD_RUN_DIR = "/run/wireguard";

/** A namespace's own socket directory (made 0700, as wireguard-go makes /run/wireguard). */
export function wireguardSocketDir(linuxDir: string, netns: string): string {
  const dir = join(linuxDir, "wireguard", netns);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  mkdirSync(WIREGUARD_RUN_DIR, { recursive: true, mode: 0o700 });
  return dir;
}

/** `argv` run with the namespace's socket directory over /run/wireguard (run it with `ip netns exec`). */
export function withWireguardSockets(socketDir: string, argv: string[]): string[] {
  return ["sh", "-c", `mount --bind "$0" ${WIREGUARD_RUN_DIR} && exec "$@"`, socketDir, ...argv];
}

/**
 * The command that runs wireguard-go for `device` in the foreground (WG_PROCESS_FOREGROUND=1), so the record
 * holds its pid and start time as it holds BIRD's and the apps'.
 */
export function wireguardGoArgv(socketDir: string, device: string): string[] {
  return withWireguardSockets(socketDir, ["env", "WG_PROCESS_FOREGROUND=1", "wireguard-go", device]);
}

/** `wg ARGS` in a namespace, through its socket directory. */
export function runWg(netns: string, socketDir: string, args: string[]): Promise<KernelCommandResult> {
  return inNetns(netns, withWireguardSockets(socketDir, ["wg", ...args]));
}

/** Whether wireguard-go's device answers on its socket (it creates the socket once the TUN is up). */
export async function wireguardAnswers(netns: string, socketDir: string, device: string): Promise<boolean> {
  return (await runWg(netns, socketDir, ["show", device, "listen-port"])).code === 0;
}

/** Waits (up to `timeoutMs`) for a freshly started wireguard-go to answer; throws naming the device if it does not. */
export async function awaitWireguard(
  netns: string,
  socketDir: string,
  device: string,
  running: () => boolean,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await wireguardAnswers(netns, socketDir, device)) return;
    if (!running()) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${netns}: wireguard-go did not bring up ${device} (see ${socketDir}.log)`);
}

/**
 * Gives the device the link's keys, port, mark and peers: `wg syncconf` from a file in the socket directory (0600,
 * as it holds the private key), which changes only what differs.
 */
export async function syncWireguard(netns: string, socketDir: string, link: LinkSpec): Promise<void> {
  if (!link.wireguard)
    throw new Error(`${netns}: link ${link.name}: kind wireguard without wireguard settings`);
  const conf = join(socketDir, `${link.name}.conf`);
  writeFileSync(conf, wireguardConfText(link.wireguard), { mode: 0o600 });
  chmodSync(conf, 0o600);
  const r = await runWg(netns, socketDir, ["syncconf", link.name, conf]);
  if (r.code !== 0) throw commandError(netns, "wg", ["syncconf", link.name, conf], r);
}
