import assert from "node:assert/strict";
import { test } from "node:test";
import type { BpfDataplaneSpec, BpfServiceSpec } from "../../src/calc/index.ts";
import { BpfProgram, formatIpv4, parseIpv4 } from "../../src/dataplane/sim/index.ts";
import { type Packet, TCP, TCP_SYN } from "../../src/dataplane/sim/netfilter/index.ts";

const ip = (s: string) => parseIpv4(s)!;
const CONTROL = "198.19.0.1";
const NODE1 = "198.19.0.2";
const CLIENT = "198.19.15.254";
const POD = "198.19.22.130";

function customer(extra: Partial<BpfServiceSpec> = {}): BpfServiceSpec {
  return {
    id: "yaobank/customer:http",
    frontends: [
      { ip: "10.49.1.10", port: 80, protocol: "TCP", kind: "ClusterIP" },
      { ip: "", port: 30180, protocol: "TCP", kind: "NodePort" },
    ],
    backends: [{ ip: POD, port: 80, node: "node1", nodeIP: NODE1 }],
    externalLocal: false,
    internalLocal: false,
    ...extra,
  };
}

function spec(nodeIP: string, mode: "Tunnel" | "DSR", service = customer()): BpfDataplaneSpec {
  return {
    externalServiceMode: mode,
    nodeIP,
    tunnelPort: 4789,
    tunnelVni: 0xca11c0,
    connectTimeLoadBalancing: "TCP",
    services: [service],
  };
}

function program(node: string, nodeIP: string, mode: "Tunnel" | "DSR", service?: BpfServiceSpec) {
  return new BpfProgram(node, spec(nodeIP, mode, service), (a) => a === ip(nodeIP));
}

function syn(src: string, sport: number, dst: string, dport: number): Packet {
  return {
    src: ip(src),
    dst: ip(dst),
    proto: TCP,
    sport,
    dport,
    len: 60,
    mark: 0,
    tcpFlags: TCP_SYN,
    icmpType: 0,
    icmpCode: 0,
  };
}

const show = (p: Packet) => `${formatIpv4(p.src)}:${p.sport} > ${formatIpv4(p.dst)}:${p.dport}`;

test("NodePort to a remote backend: the ingress node tunnels the original packet; the backend node DNATs it", () => {
  const control = program("control", CONTROL, "Tunnel");
  const node1 = program("node1", NODE1, "Tunnel");
  const v = control.ingress(syn(CLIENT, 40000, CONTROL, 30180), true);
  assert.equal(v.action, "tunnel");
  if (v.action !== "tunnel") return;
  assert.equal(v.nextHop, ip(NODE1));
  assert.equal(show(v.packet), `${CONTROL}:${v.packet.sport} > ${NODE1}:4789`);
  assert.deepEqual(
    { kind: v.packet.encapsulated?.kind, vni: (v.packet.encapsulated as { vni: number }).vni },
    { kind: "vxlan", vni: 0xca11c0 },
  );
  assert.equal(
    show((v.packet.encapsulated as { packet: Packet }).packet),
    `${CLIENT}:40000 > ${CONTROL}:30180`,
  );

  const steps: string[] = [];
  const at1 = node1.ingress(v.packet, true, (s) => steps.push(s));
  assert.equal(at1.action, "pass");
  if (at1.action !== "pass") return;
  assert.equal(show(at1.packet), `${CLIENT}:40000 > ${POD}:80`);
  assert.match(steps[0]!, /^NodePort tunnel from 198\.19\.0\.1 \(VNI 0xca11c0\): decapsulated$/);

  // Tunnel mode: the reply goes back to control, which reverses the NAT and sends it to the client.
  const reply = syn(POD, 80, CLIENT, 40000);
  const back = node1.egress(reply);
  assert.equal(back?.nextHop, ip(CONTROL));
  const atControl = control.ingress(back!.packet, true);
  assert.equal(atControl.action, "redirect");
  assert.equal(
    show(atControl.action === "redirect" ? atControl.packet : reply),
    `${CONTROL}:30180 > ${CLIENT}:40000`,
  );
});

test("DSR: the backend node reverses the NAT and answers the client from the ingress node's address", () => {
  const control = program("control", CONTROL, "DSR");
  const node1 = program("node1", NODE1, "DSR");
  const v = control.ingress(syn(CLIENT, 40001, CONTROL, 30180), true);
  assert.equal(v.action, "tunnel");
  if (v.action === "tunnel") node1.ingress(v.packet, true);
  const out = node1.egress(syn(POD, 80, CLIENT, 40001));
  assert.equal(out?.nextHop, undefined);
  assert.equal(show(out!.packet), `${CONTROL}:30180 > ${CLIENT}:40001`);
});

test("a ClusterIP from a workload: DNAT in place, the reply's source reversed on the way back", () => {
  const control = program("control", CONTROL, "Tunnel");
  const v = control.ingress(syn("198.19.21.2", 50000, "10.49.1.10", 80), false);
  assert.equal(v.action, "pass");
  assert.equal(
    show(v.action === "pass" ? v.packet : syn("0.0.0.0", 0, "0.0.0.0", 0)),
    `198.19.21.2:50000 > ${POD}:80`,
  );
  const reply = control.egress(syn(POD, 80, "198.19.21.2", 50000));
  assert.equal(show(reply!.packet), "10.49.1.10:80 > 198.19.21.2:50000");
  // A packet of no flow the program knows passes unchanged.
  assert.equal(control.egress(syn(POD, 80, "198.19.21.3", 50000)), undefined);
});

test("externalTrafficPolicy Local with no backend on the ingress node: dropped", () => {
  const control = program("control", CONTROL, "Tunnel", customer({ externalLocal: true }));
  const v = control.ingress(syn(CLIENT, 40002, CONTROL, 30180), true);
  assert.deepEqual(v, { action: "drop", reason: "eBPF NAT: no backend for yaobank/customer:http" });
});

test("ClientIP session affinity: one client's flows share a backend", () => {
  const backends = ["198.19.22.1", "198.19.22.2", "198.19.22.3", "198.19.22.4"].map((b) => ({
    ip: b,
    port: 80,
    node: "control",
    nodeIP: CONTROL,
  }));
  const sticky = program("control", CONTROL, "Tunnel", customer({ backends, affinitySeconds: 10800 }));
  const chosen = new Set<number>();
  for (let port = 41000; port < 41020; port++) {
    const v = sticky.ingress(syn(CLIENT, port, CONTROL, 30180), true);
    if (v.action === "pass") chosen.add(v.packet.dst);
  }
  assert.equal(chosen.size, 1);
  const spread = program("control", CONTROL, "Tunnel", customer({ backends }));
  chosen.clear();
  for (let port = 41000; port < 41020; port++) {
    const v = spread.ingress(syn(CLIENT, port, CONTROL, 30180), true);
    if (v.action === "pass") chosen.add(v.packet.dst);
  }
  assert.ok(chosen.size > 1);
});
