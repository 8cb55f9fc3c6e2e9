export { renderBirdAggr } from "./bird-aggr.ts";
export { type BirdCfgInput, type BirdCfgPeer, normalizeBlankLines, renderBirdCfg } from "./bird-cfg.ts";
export { renderBirdIpam } from "./bird-ipam.ts";
export type { BirdRoutingConfig } from "./bird-routing-config.ts";
