import assert from "node:assert/strict";
import { test } from "node:test";
import type { ApiObject } from "../../src/api/index.ts";
import {
  BPF_TUNNEL_VNI,
  bpfCleansKubeProxy,
  nodeBpf,
  unmodelledBpfSettings,
} from "../../src/calc/node-bpf.ts";

const service: ApiObject = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "customer", namespace: "yaobank" },
  spec: {
    type: "NodePort",
    clusterIP: "10.49.1.10",
    externalTrafficPolicy: "Cluster",
    ports: [{ name: "http", port: 80, targetPort: 80, nodePort: 30180, protocol: "TCP" }],
  },
};
const slice: ApiObject = {
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: {
    name: "customer-abc",
    namespace: "yaobank",
    labels: { "kubernetes.io/service-name": "customer" },
  },
  addressType: "IPv4",
  endpoints: [
    { addresses: ["198.19.22.130"], conditions: { ready: true }, nodeName: "node1" },
    { addresses: ["198.19.21.5"], conditions: { ready: false }, nodeName: "node2" },
  ],
  ports: [{ name: "http", port: 80, protocol: "TCP" }],
} as ApiObject;
const nodeIPs = new Map([
  ["control", "198.19.0.1"],
  ["node1", "198.19.0.2"],
]);

test("a NodePort service: ClusterIP and NodePort frontends, the ready backend with its node's address", () => {
  const spec = nodeBpf({
    node: "control",
    nodeIP: "198.19.0.1",
    services: [service],
    slices: [slice],
    nodeIPs,
    felix: {},
  });
  assert.deepEqual(spec, {
    externalServiceMode: "Tunnel",
    nodeIP: "198.19.0.1",
    tunnelPort: 4789,
    tunnelVni: 0xca11c0,
    connectTimeLoadBalancing: "TCP",
    services: [
      {
        id: "yaobank/customer:http",
        frontends: [
          { ip: "10.49.1.10", port: 80, protocol: "TCP", kind: "ClusterIP" },
          { ip: "", port: 30180, protocol: "TCP", kind: "NodePort" },
        ],
        backends: [{ ip: "198.19.22.130", port: 80, node: "node1", nodeIP: "198.19.0.2" }],
        externalLocal: false,
        internalLocal: false,
      },
    ],
  });
  assert.equal(BPF_TUNNEL_VNI, 13242816);
});

test("FelixConfiguration: DSR, the VXLAN port, affinity and Local policies carry over", () => {
  const local = {
    ...service,
    spec: { ...service.spec, externalTrafficPolicy: "Local", sessionAffinity: "ClientIP" },
  };
  const spec = nodeBpf({
    node: "node1",
    nodeIP: "198.19.0.2",
    services: [local],
    slices: [slice],
    nodeIPs,
    felix: { bpfExternalServiceMode: "DSR", vxlanPort: 4790, bpfConnectTimeLoadBalancing: "Disabled" },
  });
  assert.equal(spec.externalServiceMode, "DSR");
  assert.equal(spec.tunnelPort, 4790);
  assert.equal(spec.connectTimeLoadBalancing, "Disabled");
  assert.equal(spec.services[0]!.externalLocal, true);
  assert.equal(spec.services[0]!.affinitySeconds, 10800);
});

test("kube-proxy's chains go only in BPF mode with the cleanup on (its default)", () => {
  assert.equal(bpfCleansKubeProxy({}), false);
  assert.equal(bpfCleansKubeProxy({ bpfEnabled: true }), true);
  assert.equal(bpfCleansKubeProxy({ bpfEnabled: true, bpfKubeProxyIptablesCleanupEnabled: false }), false);
});

test("bpf* settings the sim does not model get a Felix note; modelled ones and others do not", () => {
  assert.deepEqual(
    unmodelledBpfSettings({
      bpfEnabled: true,
      bpfExternalServiceMode: "DSR",
      bpfLogLevel: "",
      bpfAttachType: "TCX",
      logSeverityScreen: "Info",
    }),
    ['not supported yet: FelixConfiguration bpfAttachType: "TCX" (eBPF dataplane)'],
  );
});

test("a service asking for Maglev gets a Felix note (the sim picks by flow hash)", () => {
  const maglev = {
    ...service,
    metadata: {
      ...service.metadata,
      annotations: { "lb.projectcalico.org/external-traffic-strategy": "Maglev" },
    },
  };
  assert.deepEqual(unmodelledBpfSettings({ bpfEnabled: true }, [service, maglev]), [
    "not supported yet: Maglev backend selection for service yaobank/customer (eBPF dataplane)",
  ]);
});
