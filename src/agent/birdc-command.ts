/**
 * `birdc` and `birdcl`, BIRD's control clients: they connect to the BIRD of the host they run on through its
 * control socket and print its replies. The sim's BIRDs answer through `BgpFabric.birdc`.
 */
import type { Kernel } from "../dataplane/sim/index.ts";
import type { SimCluster } from "./sim-cluster.ts";
import type { CommandResult } from "./sim-commands.ts";

/** calico-node's control socket (`birdcl -s /var/run/calico/bird.ctl`), and BIRD 2's as Debian builds it. */
const CALICO_SOCKET = "/var/run/calico/bird.ctl";
const BIRD_SOCKET = "/var/run/bird/bird.ctl";

const fail = (stderr: string, code = 1): CommandResult => ({ stdout: "", stderr, code });

/** `/run` is `/var/run` on Ubuntu (a symlink), so either spelling reaches the socket. */
function samePath(a: string, b: string): boolean {
  const norm = (p: string) => p.replace(/^\/run\//, "/var/run/");
  return norm(a) === norm(b);
}

export function birdc(cluster: SimCluster, k: Kernel, tool: string, args: string[]): CommandResult {
  const instance = cluster.bgp.instances.get(k.name);
  const calico = instance?.config.dialect === "bird1";
  const own = calico ? CALICO_SOCKET : BIRD_SOCKET;
  let socket = own;
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === "-s") {
      const path = args[++i];
      if (path === undefined) return fail(`${tool}: option requires an argument -- 's'\n`);
      socket = path;
    } else if (a.startsWith("-s") && a.length > 2) socket = a.slice(2);
    else if (a === "-r") continue;
    else if (a === "--") {
      i++;
      break;
    } else if (a.startsWith("-")) return fail(`not supported yet: ${tool} ${a} on the sim dataplane\n`);
    else break;
  }
  const command = args.slice(i);
  const fabric = cluster.bgp.fabric;
  if (!instance || !fabric || !samePath(socket, own))
    return fail(`Unable to connect to server control socket (${socket}): No such file or directory\n`);
  if (command.length === 0)
    return fail(`not supported yet: ${tool} without a command (interactive mode) on the sim dataplane\n`);
  const r = fabric.birdc(k.name, command);
  return { stdout: r.out, stderr: "", code: r.code };
}
