/**
 * Which service routes each node advertises (confd's updateGlobalRoutes and routeGenerator), on objects shaped as
 * tortie stores them: the lab's three nodes, YAO Bank's customer service with its pod on node2 (seeds 000 and 002).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ApiObject } from "../../src/api/index.ts";
import { bgpRoutingModel, type ConfdInput, serviceAdvertisement } from "../../src/calc/index.ts";
import { renderBirdAggr, renderBirdIpam } from "../../src/render/index.ts";

const NODES = ["node1", "node2", "node3"] as const;

function nodes(labels: Record<string, Record<string, string>> = {}): ApiObject[] {
  return NODES.flatMap((name, i) => [
    {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name, labels: { "kubernetes.io/hostname": name, ...(labels[name] ?? {}) } },
      spec: {},
    },
    {
      apiVersion: "projectcalico.org/v3",
      kind: "Node",
      metadata: { name, labels: { "kubernetes.io/hostname": name, ...(labels[name] ?? {}) } },
      spec: { bgp: { ipv4Address: `198.19.0.${i + 1}/20` } },
    },
  ]);
}

function bgpConfig(spec: Record<string, unknown>): ApiObject {
  return {
    apiVersion: "projectcalico.org/v3",
    kind: "BGPConfiguration",
    metadata: { name: "default" },
    spec,
  };
}

interface SvcOptions {
  name?: string;
  type?: string;
  clusterIP?: string;
  etp?: "Cluster" | "Local";
  externalIPs?: string[];
  ingress?: string[];
}

function service(o: SvcOptions = {}): ApiObject {
  const clusterIP = o.clusterIP ?? "198.19.38.11";
  const type = o.type ?? "NodePort";
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: o.name ?? "customer", namespace: "yaobank" },
    spec: {
      type,
      clusterIP,
      clusterIPs: [clusterIP],
      ipFamilies: [clusterIP.includes(":") ? "IPv6" : "IPv4"],
      ports: [{ port: 80, protocol: "TCP", targetPort: 80, nodePort: 30180 }],
      selector: { app: o.name ?? "customer" },
      ...(type === "ClusterIP" ? {} : { externalTrafficPolicy: o.etp ?? "Cluster" }),
      ...(o.externalIPs ? { externalIPs: o.externalIPs } : {}),
    },
    ...(o.ingress ? { status: { loadBalancer: { ingress: o.ingress.map((ip) => ({ ip })) } } } : {}),
  };
}

function slice(
  name: string,
  endpoints: { node: string; ready: boolean; ip?: string }[],
  addressType = "IPv4",
): ApiObject {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: `${name}-x7k2p`, namespace: "yaobank", labels: { "kubernetes.io/service-name": name } },
    addressType,
    endpoints: endpoints.map((e, i) => ({
      addresses: [e.ip ?? `198.19.21.${i + 10}`],
      conditions: { ready: e.ready, serving: e.ready, terminating: false },
      nodeName: e.node,
    })),
    ports: [{ name: "", port: 80, protocol: "TCP" }],
  };
}

function affinity(node: string, cidr: string): ApiObject {
  return {
    apiVersion: "projectcalico.org/v3",
    kind: "BlockAffinity",
    metadata: { name: `${node}-${cidr.replace(/[./]/g, "-")}` },
    spec: { node, cidr, state: "confirmed", deleted: "false" },
  };
}

const CUSTOMER_ON_NODE2 = slice("customer", [{ node: "node2", ready: true }]);

function perNode(objects: ApiObject[]) {
  return Object.fromEntries(NODES.map((node) => [node, serviceAdvertisement({ node, objects })]));
}

test("serviceClusterIPs: every node advertises the range; a Cluster service adds no /32", () => {
  const adv = perNode([
    ...nodes(),
    bgpConfig({ serviceClusterIPs: [{ cidr: "198.19.32.0/20" }] }),
    service(),
    CUSTOMER_ON_NODE2,
  ]);
  for (const node of NODES) {
    assert.deepEqual(adv[node]!.ranges, ["198.19.32.0/20"], node);
    assert.deepEqual(adv[node]!.rejectCidrs, ["198.19.32.0/20"], node);
    assert.deepEqual(adv[node]!.serviceRoutes, [], node);
    assert.deepEqual(adv[node]!.staticRoutes, ["198.19.32.0/20"], node);
  }
});

test("no BGPConfiguration ranges: nothing is advertised, even for a Local service", () => {
  const adv = perNode([...nodes(), service({ etp: "Local" }), CUSTOMER_ON_NODE2]);
  for (const node of NODES) assert.deepEqual(adv[node]!.staticRoutes, [], node);
});

test("externalTrafficPolicy Local: the /32 only from the node with a ready local endpoint", () => {
  const objects = [
    ...nodes(),
    bgpConfig({ serviceClusterIPs: [{ cidr: "198.19.32.0/20" }] }),
    service({ etp: "Local" }),
    // node3's endpoint is not ready: node3 must not attract traffic it would black-hole.
    slice("customer", [
      { node: "node2", ready: true },
      { node: "node3", ready: false },
    ]),
  ];
  const adv = perNode(objects);
  assert.deepEqual(adv.node2!.serviceRoutes, [{ cidr: "198.19.38.11/32", services: ["yaobank/customer"] }]);
  assert.deepEqual(adv.node2!.staticRoutes, ["198.19.32.0/20", "198.19.38.11/32"]);
  assert.deepEqual(adv.node1!.serviceRoutes, []);
  assert.deepEqual(adv.node3!.serviceRoutes, []);
  // The /32 is exported but, unlike the range, not kept out of node2's kernel.
  assert.deepEqual(adv.node2!.rejectCidrs, ["198.19.32.0/20"]);
});

test("a ready endpoint in any of the Service's slices counts; a slice of another family does not", () => {
  const objects = [
    ...nodes(),
    bgpConfig({ serviceClusterIPs: [{ cidr: "198.19.32.0/20" }, { cidr: "fd00:96::/112" }] }),
    service({ etp: "Local" }),
    slice("customer", [{ node: "node3", ready: true }]),
    { ...CUSTOMER_ON_NODE2, metadata: { ...CUSTOMER_ON_NODE2.metadata, name: "customer-b9q4z" } },
    service({ name: "v6svc", etp: "Local", clusterIP: "fd00:96::28" }),
    slice("v6svc", [{ node: "node1", ready: true }]),
  ];
  const adv = perNode(objects);
  assert.deepEqual(
    adv.node2!.serviceRoutes.map((r) => r.cidr),
    ["198.19.38.11/32"],
  );
  assert.deepEqual(
    adv.node3!.serviceRoutes.map((r) => r.cidr),
    ["198.19.38.11/32"],
  );
  assert.deepEqual(adv.node1!.serviceRoutes, [], "an IPv4 slice does not make an IPv6 service local");
});

test("serviceExternalIPs: the range from every node, and an assigned external IP with the Local service's /32s", () => {
  const objects = [
    ...nodes(),
    bgpConfig({
      serviceClusterIPs: [{ cidr: "198.19.32.0/20" }],
      serviceExternalIPs: [{ cidr: "198.19.48.0/20" }],
    }),
    service({ etp: "Local", externalIPs: ["198.19.48.10", "10.99.0.1"] }),
    CUSTOMER_ON_NODE2,
  ];
  const adv = perNode(objects);
  for (const node of NODES) {
    assert.deepEqual(adv[node]!.ranges, ["198.19.32.0/20", "198.19.48.0/20"], node);
    assert.deepEqual(adv[node]!.rejectCidrs, ["198.19.32.0/20", "198.19.48.0/20"], node);
  }
  // 10.99.0.1 is outside serviceExternalIPs: never advertised.
  assert.deepEqual(
    adv.node2!.serviceRoutes.map((r) => r.cidr),
    ["198.19.38.11/32", "198.19.48.10/32"],
  );
  assert.deepEqual(adv.node1!.serviceRoutes, []);
});

test("single-address external ranges are not advertised globally; a Cluster service using one is, from every node", () => {
  const objects = [
    ...nodes(),
    bgpConfig({ serviceExternalIPs: [{ cidr: "198.19.48.10/32" }, { cidr: "198.19.49.0/24" }] }),
    service({ externalIPs: ["198.19.48.10"] }),
    CUSTOMER_ON_NODE2,
  ];
  const adv = perNode(objects);
  for (const node of NODES) {
    assert.deepEqual(adv[node]!.ranges, ["198.19.49.0/24"], node);
    // Cluster policy: every node can forward it, so every node advertises it (cluster IPs are not configured).
    assert.deepEqual(
      adv[node]!.serviceRoutes,
      [{ cidr: "198.19.48.10/32", services: ["yaobank/customer"] }],
      node,
    );
  }
});

test("LoadBalancer IPs: the range when aggregation is Enabled (default), per-service /32s when Disabled", () => {
  const base = [
    ...nodes(),
    service({ type: "LoadBalancer", ingress: ["198.19.64.5"] }),
    slice("customer", [{ node: "node2", ready: true }]),
  ];
  const enabled = perNode([...base, bgpConfig({ serviceLoadBalancerIPs: [{ cidr: "198.19.64.0/24" }] })]);
  for (const node of NODES) {
    assert.deepEqual(enabled[node]!.ranges, ["198.19.64.0/24"], node);
    assert.deepEqual(enabled[node]!.serviceRoutes, [], node);
  }
  const disabled = perNode([
    ...base,
    bgpConfig({
      serviceLoadBalancerIPs: [{ cidr: "198.19.64.0/24" }],
      serviceLoadBalancerAggregation: "Disabled",
    }),
  ]);
  for (const node of NODES) {
    assert.deepEqual(disabled[node]!.ranges, [], node);
    assert.deepEqual(disabled[node]!.rejectCidrs, [], node);
    // Cluster policy with a ready endpoint somewhere: every node advertises the LB address.
    assert.deepEqual(
      disabled[node]!.serviceRoutes.map((r) => r.cidr),
      ["198.19.64.5/32"],
      node,
    );
  }
  // A single-address LB range: never global; the LoadBalancer service using it is advertised from every node.
  const single = perNode([...base, bgpConfig({ serviceLoadBalancerIPs: [{ cidr: "198.19.64.5/32" }] })]);
  for (const node of NODES) {
    assert.deepEqual(single[node]!.ranges, [], node);
    assert.deepEqual(
      single[node]!.serviceRoutes.map((r) => r.cidr),
      ["198.19.64.5/32"],
      node,
    );
  }
});

test("a node labelled exclude-from-external-load-balancers advertises nothing but keeps the reject routes", () => {
  const objects = [
    ...nodes({ node2: { "node.kubernetes.io/exclude-from-external-load-balancers": "true" } }),
    bgpConfig({ serviceClusterIPs: [{ cidr: "198.19.32.0/20" }] }),
    service({ etp: "Local" }),
    CUSTOMER_ON_NODE2,
  ];
  const adv = perNode(objects);
  assert.equal(adv.node2!.excluded, true);
  assert.deepEqual(adv.node2!.ranges, []);
  assert.deepEqual(adv.node2!.serviceRoutes, []);
  assert.deepEqual(adv.node2!.staticRoutes, []);
  assert.deepEqual(adv.node2!.rejectCidrs, ["198.19.32.0/20"]);
  assert.deepEqual(adv.node1!.ranges, ["198.19.32.0/20"]);
});

test("a headless or ExternalName service, or one without slices, is never advertised", () => {
  const objects = [
    ...nodes(),
    bgpConfig({ serviceClusterIPs: [{ cidr: "198.19.32.0/20" }] }),
    service({ name: "headless", type: "ClusterIP", clusterIP: "None" }),
    slice("headless", [{ node: "node2", ready: true }]),
    service({ name: "lonely", etp: "Local", clusterIP: "198.19.38.12" }),
    {
      ...service({ name: "alias", clusterIP: "198.19.38.13" }),
      spec: { type: "ExternalName", externalName: "db.example.com" },
    },
    slice("alias", [{ node: "node2", ready: true }]),
  ];
  for (const node of NODES) assert.deepEqual(serviceAdvertisement({ node, objects }).serviceRoutes, [], node);
});

test("bird_aggr.cfg and bird_ipam.cfg of node2 with seed 002's service advertisement", () => {
  const input: ConfdInput = {
    node: "node2",
    objects: [
      ...nodes(),
      bgpConfig({
        serviceClusterIPs: [{ cidr: "198.19.32.0/20" }],
        serviceExternalIPs: [{ cidr: "198.19.48.0/20" }],
      }),
      {
        apiVersion: "projectcalico.org/v3",
        kind: "IPPool",
        metadata: { name: "default-ipv4-ippool" },
        spec: {
          cidr: "198.19.16.0/21",
          blockSize: 26,
          ipipMode: "Never",
          vxlanMode: "Never",
          natOutgoing: true,
        },
      },
      affinity("node2", "198.19.21.0/26"),
      affinity("node1", "198.19.17.64/26"),
      service({ etp: "Local", externalIPs: ["198.19.48.10"] }),
      CUSTOMER_ON_NODE2,
    ],
  };
  const model = bgpRoutingModel(input, 4);
  assert.deepEqual(model.blocks, [{ cidr: "198.19.21.0/26", state: "confirmed" }]);
  assert.deepEqual(model.staticRoutes, [
    "198.19.32.0/20",
    "198.19.38.11/32",
    "198.19.48.0/20",
    "198.19.48.10/32",
  ]);
  const aggr = renderBirdAggr(model);
  assert.match(
    aggr,
    /\n {3}# IP blocks for this host.\n {3}route 198\.19\.21\.0\/26 blackhole;\n {3}# Static routes.\n/,
  );
  assert.match(aggr, /\n {3}route 198\.19\.38\.11\/32 blackhole;\n/);
  assert.match(
    aggr,
    /\n {6}# Block 198\.19\.21\.0\/26 is confirmed\n {6}if \( net = 198\.19\.21\.0\/26 \) then \{ accept; \}\n/,
  );
  const ipam = renderBirdIpam(model);
  assert.match(
    ipam,
    /\n {2}# Export static routes.\n {2}if \( net ~ 198\.19\.32\.0\/20 \) then \{ accept; \}\n/,
  );
  assert.match(ipam, /\n {2}if \( net ~ 198\.19\.48\.10\/32 \) then \{ accept; \}\n/);
  assert.match(
    ipam,
    /# Don't program static routes into kernel.\n {2}if \( net ~ 198\.19\.32\.0\/20 \) then \{ reject; \}\n {2}if \( net ~ 198\.19\.48\.0\/20 \) then \{ reject; \}\n/,
  );
  assert.match(ipam, /\n {2}if \(net ~ 198\.19\.16\.0\/21\) then \{ accept; \}\n\}/);
  // The /32 is node2's alone: node1 exports the ranges only.
  assert.deepEqual(bgpRoutingModel({ ...input, node: "node1" }, 4).staticRoutes, [
    "198.19.32.0/20",
    "198.19.48.0/20",
  ]);
  assert.deepEqual(bgpRoutingModel(input, 6).staticRoutes, []);
});
