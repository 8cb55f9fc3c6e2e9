/**
 * `bridge fdb show [dev DEV]` over a sim namespace: the VXLAN devices' forwarding entries, as iproute2 prints them.
 * The multicast entries Linux lists for every multicast-capable device (33:33:…, 01:00:5e:…) are not modelled.
 */
import { formatIpv4, type Kernel } from "../dataplane/sim/index.ts";
import type { CommandResult } from "./sim-commands.ts";

export function bridgeCommand(k: Kernel, args: string[]): CommandResult {
  const [object, verb = "show", ...filters] = args;
  if (object !== "fdb" || !["show", "list"].includes(verb))
    return {
      stdout: "",
      stderr: `not supported yet: bridge ${args.join(" ")} on the sim dataplane\n`,
      code: 1,
    };
  let dev: string | undefined;
  if (filters[0] === "dev" && filters[1] && filters.length === 2) dev = filters[1];
  else if (filters.length > 0)
    return {
      stdout: "",
      stderr: `not supported yet: bridge fdb show ${filters.join(" ")} on the sim dataplane\n`,
      code: 1,
    };
  if (dev && !k.links.has(dev)) return { stdout: "", stderr: `Cannot find device "${dev}"\n`, code: 1 };
  const lines = k.fdb
    .filter((e) => !dev || e.dev === dev)
    .map((e) => `${e.mac} ${dev ? "" : `dev ${e.dev} `}dst ${formatIpv4(e.dst)} self permanent\n`);
  return { stdout: lines.join(""), stderr: "", code: 0 };
}
