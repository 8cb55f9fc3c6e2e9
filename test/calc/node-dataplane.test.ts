/**
 * calc's per-host dataplane description on the lab with YAO Bank: node1's namespaces (host and pods, joined by
 * their cali veths), routes, sysctls, kube-proxy's and Felix's payloads, BIRD's files and processes; the
 * description is plain JSON and a pure function of its input.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ApiObject } from "../../src/api/index.ts";
import { clusterDataplane, DataplaneCalculator } from "../../src/calc/index.ts";
import { calicoInterfaceName } from "../../src/control/index.ts";
import { labDataplaneInput } from "./lab-input.ts";

const lab = labDataplaneInput();

function podsOn(node: string): ApiObject[] {
  return lab().objects.filter(
    (o) => o.kind === "Pod" && o.spec?.nodeName === node && o.status?.podIP && !o.spec?.hostNetwork,
  );
}

test("node1: host namespace first, each pod's namespace joined by its cali veth, /32 routes and sysctls", () => {
  const node = new DataplaneCalculator(lab()).node("node1");
  const host = node.namespaces[0]!;
  assert.equal(host.name, "node1");
  assert.equal(host.kind, "host");
  const topo = lab().topology.hosts.find((x) => x.name === "node1")!;
  assert.deepEqual(host.links[0], {
    name: topo.interface,
    kind: "uplink",
    mac: host.links[0]!.mac,
    mtu: 1500,
    segment: "underlay",
  });
  assert.deepEqual(host.addresses, [{ dev: topo.interface, cidr: `${topo.ip}/${topo.prefix}` }]);
  assert.equal(host.sysctls["net.ipv4.ip_forward"], "1");
  assert.equal(host.sysctls["net.ipv4.conf.all.rp_filter"], "2");
  const router = lab().topology.hosts.find((x) => x.role === "external")!;
  assert.deepEqual(host.routes[0], {
    dst: "0.0.0.0/0",
    type: "unicast",
    via: router.ip,
    dev: topo.interface,
    proto: "static",
    scope: "global",
    metric: 100,
  });
  const pods = podsOn("node1");
  assert.ok(
    pods.some((p) => p.metadata.namespace === "yaobank"),
    "a YAO Bank pod runs on node1",
  );
  for (const pod of pods) {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const cali = calicoInterfaceName(pod.metadata.namespace!, pod.metadata.name!);
    const link = host.links.find((l) => l.name === cali);
    assert.deepEqual(link?.peer, { namespace: key, name: "eth0" });
    assert.equal(link?.mtu, 1450);
    assert.equal(host.sysctls[`net.ipv4.conf.${cali}.rp_filter`], "1");
    assert.equal(host.sysctls[`net.ipv4.conf.${cali}.proxy_arp`], "1");
    assert.deepEqual(
      host.routes.find((r) => r.dst === `${pod.status.podIP}/32`),
      {
        dst: `${pod.status.podIP}/32`,
        type: "unicast",
        dev: cali,
        proto: "boot",
        scope: "link",
        metric: 1024,
      },
    );
    const ns = node.namespaces.find((n) => n.name === key)!;
    assert.equal(ns.kind, "pod");
    assert.deepEqual(ns.links[0]?.peer, { namespace: "node1", name: cali });
    assert.deepEqual(ns.addresses, [{ dev: "eth0", cidr: `${pod.status.podIP}/32` }]);
    assert.deepEqual(
      ns.routes.map((r) => `${r.dst} ${r.via ?? ""} ${r.scope}`),
      ["169.254.1.1/32  link", "0.0.0.0/0 169.254.1.1 global"],
    );
    assert.deepEqual(ns.resolvConf?.search.slice(1), [
      `svc.${lab().topology.clusterDomain}`,
      lab().topology.clusterDomain,
    ]);
    assert.equal(ns.resolvConf?.search[0], `${pod.metadata.namespace}.svc.${lab().topology.clusterDomain}`);
    assert.equal(ns.resolvConf?.nameserver, lab().topology.dnsServiceIP);
    for (const c of pod.spec.containers)
      assert.ok(node.processes.some((p) => p.id === `pod:${key}:${c.name}` && p.namespace === key));
  }
  assert.deepEqual(node.processes.at(-1), {
    id: "host:services",
    namespace: "node1",
    image: `tortie/host-services:${node.role}`,
  });
});

test("node1: kube-proxy's payloads, then Felix's, and Felix's ipsets; BIRD's confd files", () => {
  const node = new DataplaneCalculator(lab()).node("node1");
  const host = node.namespaces[0]!;
  assert.equal(host.iptables.length, 3);
  assert.match(host.iptables[0]!, /KUBE-SERVICES/);
  assert.match(host.iptables[1]!, /-I .* -j KUBE-/);
  assert.match(host.iptables[2]!, /cali-FORWARD/);
  assert.match(host.ipsets, /^create cali40/m);
  assert.equal(host.nft, "");
  assert.ok(node.namespaces.slice(1).every((n) => n.iptables.length === 0 && n.ipsets === ""));
  assert.equal(node.bird?.dialect, "bird1");
  assert.equal(node.bird?.main, "bird.cfg");
  assert.deepEqual(Object.keys(node.bird?.files ?? {}), ["bird.cfg", "bird_aggr.cfg", "bird_ipam.cfg"]);
  assert.equal(node.bird?.socket, "/var/run/calico/bird.ctl");
  assert.equal(node.bird?.version, "v0.3.3+birdv1.6.8");
});

test("kube-proxy names nfacct counters only when the kernel has nfacct", () => {
  const withNfacct = new DataplaneCalculator(lab()).node("node1").namespaces[0]!.iptables.join("\n");
  const without = new DataplaneCalculator({ ...lab(), features: { nfacct: false } })
    .node("node1")
    .namespaces[0]!.iptables.join("\n");
  assert.match(withNfacct, /-m nfacct/);
  assert.doesNotMatch(without, /-m nfacct/);
});

test("the cluster's description: every host, the underlay, the DNS zone; plain JSON; pure", () => {
  const cluster = clusterDataplane(lab());
  assert.deepEqual(
    cluster.hosts.map((x) => x.host),
    lab().topology.hosts.map((x) => x.name),
  );
  assert.deepEqual(cluster.underlay, { name: "underlay" });
  assert.equal(cluster.dns?.domain, `${lab().topology.clusterDomain.replace(/\.$/, "")}.`);
  const external = cluster.hosts.find((x) => x.role === "external")!;
  assert.equal(external.namespaces[0]!.sysctls["net.ipv4.ip_forward"], "0");
  assert.deepEqual(external.namespaces[0]!.iptables, []);
  assert.deepEqual(JSON.parse(JSON.stringify(cluster)), cluster);
  assert.deepEqual(clusterDataplane(lab()), cluster);
});
