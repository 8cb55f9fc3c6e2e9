/**
 * The BIRD a host runs, as files: on a cluster node what confd renders from the datastore (Calico's BIRD 1.6
 * dialect); on an external host with a `bird` field in the topology, that text (BIRD 2). Parsing the files is
 * the kernel's business (a BIRD that refuses them does not start), so only confd's refusals are known here.
 */
import type { ApiObject } from "../api/index.ts";
import type { TopologyHost } from "../control/index.ts";
import { renderBirdAggr, renderBirdCfg, renderBirdIpam } from "../render/index.ts";
import { BgpFilterError, bgpPeeringModel, bgpRoutingModel, ConfdNodeError, ConfdView } from "./bgp/index.ts";
import type { BirdSpec } from "./node-dataplane-types.ts";

/** calico-node's BIRD: Calico's fork of BIRD 1.6, as `birdcl` greets with it. */
export const CALICO_BIRD_VERSION = "v0.3.3+birdv1.6.8";
/** The lab's host1 runs Ubuntu's BIRD 2 (seed 001: `BIRD 2.0.7 ready.`). */
export const HOST_BIRD_VERSION = "2.0.7";
/** An external host's BIRD 2 configuration file, as Debian and Ubuntu install it. */
export const HOST_BIRD_FILE = "bird.conf";

/** The files confd writes for one node (IPv4: bird.cfg includes bird_aggr.cfg and bird_ipam.cfg). */
function renderConfdFiles(node: string, objects: readonly ApiObject[]): Record<string, string> {
  // One view of the datastore (and its v1 peerings) for both models, rather than one per model.
  const view = new ConfdView({ node, objects: objects as ApiObject[] });
  const routing = bgpRoutingModel(view, 4);
  return {
    "bird.cfg": renderBirdCfg(bgpPeeringModel(view, 4)),
    "bird_aggr.cfg": renderBirdAggr(routing),
    "bird_ipam.cfg": renderBirdIpam(routing),
  };
}

/** A host's BIRD (or why confd would not configure one); nothing for an external host without BIRD. */
export function nodeBird(
  h: TopologyHost,
  objects: readonly ApiObject[],
): { bird?: BirdSpec; birdFailure?: string } {
  if (h.role === "external") {
    if (h.bird === undefined) return {};
    return {
      bird: {
        dialect: "bird2",
        main: HOST_BIRD_FILE,
        files: { [HOST_BIRD_FILE]: h.bird },
        socket: "/run/bird/bird.ctl",
        version: HOST_BIRD_VERSION,
      },
    };
  }
  try {
    return {
      bird: {
        dialect: "bird1",
        main: "bird.cfg",
        files: renderConfdFiles(h.name, objects),
        socket: "/var/run/calico/bird.ctl",
        version: CALICO_BIRD_VERSION,
      },
    };
  } catch (e) {
    // What confd itself refuses (a node without BGP addresses, a bad BGPFilter); anything else is a bug.
    if (!(e instanceof ConfdNodeError || e instanceof BgpFilterError)) throw e;
    return { birdFailure: `confd could not render BIRD's configuration: ${e.message}` };
  }
}
