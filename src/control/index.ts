export { type BootstrapResult, bootstrapCluster, DNS_IMAGE } from "./bootstrap.ts";
export { conditionIsTrue } from "./conditions.ts";
export { HOST_VETH_MAC, POD_GATEWAY } from "./kubelet.ts";
export { type LabelSelector, matchesLabelSelector } from "./label-selector.ts";
export { calicoInterfaceName, workloadEndpointName } from "./names.ts";
export { type ReconcileResult, reconcileCluster } from "./reconcile.ts";
export { serviceAllocation } from "./service-allocation.ts";
export { BUILT_IN_TOPOLOGIES } from "./topologies.ts";
export { type ClusterTopology, kinds as controlKinds, readTopology, type TopologyHost } from "./topology.ts";
