import type { ApiObject } from "../api/index.ts";
import { HOST1_LAB_BIRD, HOST1_SEED000_BIRD } from "./host-bird.ts";

/** The four-host lab of the Calico labs (seed 002 addressing; see the README's topology section). */
const LAB: ApiObject = {
  apiVersion: "tortie.dev/v1",
  kind: "Topology",
  metadata: { name: "lab" },
  spec: {
    clusterCIDR: "198.19.16.0/20",
    serviceCIDR: "198.19.32.0/20",
    dnsServiceIP: "198.19.32.10",
    kubernetesVersion: "v1.18.10+k3s1",
    defaultPool: {
      name: "default-ipv4-ippool",
      cidr: "198.19.16.0/21",
      blockSize: 26,
      natOutgoing: true,
      encapsulation: "None",
    },
    hosts: [
      { name: "control", address: "198.19.0.1/20", role: "control-plane", interface: "ens4" },
      { name: "node1", address: "198.19.0.2/20", role: "worker", interface: "ens4" },
      { name: "node2", address: "198.19.0.3/20", role: "worker", interface: "ens4" },
      {
        name: "host1",
        address: "198.19.15.254/20",
        role: "external",
        interface: "ens4",
        bird: HOST1_LAB_BIRD,
      },
    ],
  },
};

/**
 * Seed 000's older addressing. The seed shows pods in 10.48.0.0/26 blocks and a cluster CIDR of 10.48.0.0/16;
 * the default pool 10.48.0.0/24 is inferred from those addresses.
 */
const SEED000: ApiObject = {
  apiVersion: "tortie.dev/v1",
  kind: "Topology",
  metadata: { name: "seed000" },
  spec: {
    clusterCIDR: "10.48.0.0/16",
    serviceCIDR: "10.49.0.0/16",
    dnsServiceIP: "10.49.0.10",
    kubernetesVersion: "v1.18.10+k3s1",
    defaultPool: {
      name: "default-ipv4-ippool",
      cidr: "10.48.0.0/24",
      blockSize: 26,
      natOutgoing: true,
      encapsulation: "None",
    },
    hosts: [
      // A kubeadm control plane of the seed's era: workloads run on the workers only (seed 004).
      {
        name: "master1",
        address: "10.0.0.10/24",
        role: "control-plane",
        interface: "ens160",
        taints: [{ key: "node-role.kubernetes.io/master", effect: "NoSchedule" }],
      },
      { name: "worker1", address: "10.0.0.11/24", role: "worker", interface: "ens160" },
      { name: "worker2", address: "10.0.0.12/24", role: "worker", interface: "ens160" },
      {
        name: "host1",
        address: "10.0.0.20/24",
        role: "external",
        interface: "ens160",
        bird: HOST1_SEED000_BIRD,
      },
    ],
  },
};

export const BUILT_IN_TOPOLOGIES: Record<string, ApiObject> = { lab: LAB, seed000: SEED000 };
