export { FELIX_MARKS, type FelixIptables, renderFelixIptables } from "./felix-iptables.ts";
export { ipsetName, lengthLimitedName } from "./names.ts";
