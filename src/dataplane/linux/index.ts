export type { NamespaceDrift } from "./drift.ts";
export { type BirdBinaries, bird2Binaries, linuxUnavailable, probeKernelFeatures } from "./host-tools.ts";
export { ipsetDelta } from "./ipset-delta.ts";
export { canonicalRule } from "./iptables-canonical.ts";
export { type ApplyOptions, LinuxDataplane, type LinuxDataplaneOptions } from "./linux-dataplane.ts";
export { clusterPrefix, hostNetns, underlayNetns } from "./names.ts";
export { type RecordedProcess, sameProcess } from "./processes.ts";
export { type LinuxRecord, readRecord, recordPath, writeRecord } from "./record.ts";
export { clusterOwnedElsewhere, sweepLinuxCluster } from "./sweep.ts";
