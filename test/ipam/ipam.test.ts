import assert from "node:assert/strict";
import { test } from "node:test";
import { assignPodAddresses, partialFulfillmentError, tunnelHandleId } from "../../src/ipam/index.ts";
import { ipamWorld, pod } from "./helpers.ts";

const one = (hostname: string, handleId?: string) => ({
  num4: 1,
  hostname,
  handleId,
  intendedUse: "Workload" as const,
});

test("a node's first address comes from the block its walk picks, in ordinal order (seed lab blocks)", async () => {
  const w = await ipamWorld();
  await w.pool("default-ipv4-ippool", "198.19.16.0/21");
  for (const n of ["control", "node1", "node2"]) await w.node(n);
  const got: Record<string, string[]> = {};
  for (const n of ["control", "node1", "node2"]) {
    got[n] = [];
    for (let i = 0; i < 2; i++)
      got[n].push(...((await w.ipam.autoAssign(one(n, `h-${n}-${i}`))).v4?.ips ?? []));
  }
  assert.deepEqual(got, {
    control: ["198.19.21.0", "198.19.21.1"],
    node1: ["198.19.22.128", "198.19.22.129"],
    node2: ["198.19.21.64", "198.19.21.65"],
  });
  const blocks = await w.list("IPAMBlock");
  assert.deepEqual(
    blocks.map((b) => [b.metadata.name, b.spec.affinity]),
    [
      ["198-19-21-0-26", "host:control"],
      ["198-19-21-64-26", "host:node2"],
      ["198-19-22-128-26", "host:node1"],
    ],
  );
  const affinities = await w.list("BlockAffinity");
  assert.deepEqual(
    affinities.map((a) => [a.metadata.name, a.spec.state, a.spec.node, a.spec.cidr]),
    [
      ["control-198-19-21-0-26", "confirmed", "control", "198.19.21.0/26"],
      ["node1-198-19-22-128-26", "confirmed", "node1", "198.19.22.128/26"],
      ["node2-198-19-21-64-26", "confirmed", "node2", "198.19.21.64/26"],
    ],
  );
  const handles = await w.list("IPAMHandle");
  assert.equal(handles.length, 6);
  assert.deepEqual(handles[0]!.spec, {
    handleID: "h-control-0",
    block: { "198.19.21.0/26": 1 },
    deleted: false,
  });
});

test("released addresses go to the back of the free list (FIFO reuse) and attributes are renumbered", async () => {
  const w = await ipamWorld();
  await w.pool("p", "10.0.0.0/24", { blockSize: 29 });
  await w.node("n1");
  const ips: string[] = [];
  for (let i = 0; i < 3; i++) ips.push(...((await w.ipam.autoAssign(one("n1", `h${i}`))).v4?.ips ?? []));
  const block0 = ips[0]!;
  assert.equal((await w.ipam.releaseIps([{ address: ips[0]! }])).unallocated.length, 0);
  const [b] = await w.list("IPAMBlock");
  assert.deepEqual(
    b!.spec.attributes.map((a: { handle_id: string }) => a.handle_id),
    ["h1", "h2"],
  );
  assert.equal(b!.spec.unallocated.at(-1), 0, "the released ordinal is last in the free list");
  // The next five allocations use the untouched ordinals first; the released one comes back last.
  const next: string[] = [];
  for (let i = 3; i < 9; i++) next.push(...((await w.ipam.autoAssign(one("n1", `h${i}`))).v4?.ips ?? []));
  assert.equal(next[5], block0);
  assert.equal(new Set([...ips.slice(1), ...next]).size, 8);
});

test("release preconditions: a wrong handle or sequence number releases nothing", async () => {
  const w = await ipamWorld();
  await w.pool("p", "10.0.0.0/24");
  await w.node("n1");
  const [ip] = (await w.ipam.autoAssign(one("n1", "owner"))).v4!.ips;
  const attrs = await w.ipam.getAssignmentAttributes(ip!);
  assert.equal(attrs?.handleId, "owner");
  await assert.rejects(w.ipam.releaseIps([{ address: ip!, handle: "someone-else" }]), /handle mismatch/);
  await assert.rejects(
    w.ipam.releaseIps([{ address: ip!, sequenceNumber: attrs!.sequenceNumber + 1 }]),
    /sequence number mismatch/,
  );
  assert.ok(await w.ipam.getAssignmentAttributes(ip!), "still assigned");
  await w.ipam.releaseIps([{ address: ip!, handle: "owner", sequenceNumber: attrs!.sequenceNumber }]);
  assert.equal(await w.ipam.getAssignmentAttributes(ip!), undefined);
  assert.deepEqual(await w.list("IPAMHandle"), [], "the handle goes when its last address does");
});

test("seed 001/002: external-pool with nodeSelector !all() is used only through the namespace annotation", async () => {
  const w = await ipamWorld();
  await w.pool("default-ipv4-ippool", "198.19.16.0/21", { natOutgoing: true });
  await w.pool("external-pool", "198.19.24.0/21", {
    blockSize: 29,
    nodeSelector: "!all()",
    natOutgoing: true,
  });
  await w.node("node1");
  const plain = await w.namespace("plain");
  const external = await w.namespace("external-ns", {
    "cni.projectcalico.org/ipv4pools": '["external-pool"]',
  });
  const a = await assignPodAddresses(w.ipam, {
    pod: pod("plain", "a"),
    namespace: plain,
    node: "node1",
    containerId: "c1",
  });
  assert.match(a.ips[0]!, /^198\.19\.(1[6-9]|2[0-3])\./, "automatic pods never get the !all() pool");
  const b = await assignPodAddresses(w.ipam, {
    pod: pod("external-ns", "nginx"),
    namespace: external,
    node: "node1",
    containerId: "c2",
  });
  assert.match(b.ips[0]!, /^198\.19\.(2[4-9]|3[01])\./);
  assert.equal(b.handleId, "k8s-pod-network.c2");
  const attrs = await w.ipam.getAssignmentAttributes(b.ips[0]!);
  assert.match(
    attrs!.attrs.timestamp!,
    /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,3})? \+0000 UTC$/,
    "Go's time.String",
  );
  assert.deepEqual(
    { ...attrs!.attrs, timestamp: "-" },
    { namespace: "external-ns", node: "node1", pod: "nginx", timestamp: "-" },
  );
  // The pod's own annotation overrides the namespace's, and a CIDR works as well as a name.
  const c = await assignPodAddresses(w.ipam, {
    pod: pod("external-ns", "override", { "cni.projectcalico.org/ipv4pools": '["198.19.16.0/21"]' }),
    namespace: external,
    node: "node1",
    containerId: "c3",
  });
  assert.match(c.ips[0]!, /^198\.19\.(1[6-9]|2[0-3])\./);
});

test("requested pools: clear errors for a missing, disabled or exhausted pool; nothing leaks", async () => {
  const w = await ipamWorld();
  await w.pool("tiny", "10.9.0.0/30", { blockSize: 30, nodeSelector: "!all()" });
  await w.pool("off", "10.8.0.0/24", { disabled: true });
  await w.node("n1");
  const ns = await w.namespace("x");
  const req = (name: string, pools: string) => ({
    pod: pod("x", name, { "cni.projectcalico.org/ipv4pools": pools }),
    namespace: ns,
    node: "n1",
    containerId: name,
  });
  await assert.rejects(
    assignPodAddresses(w.ipam, req("a", '["nope"]')),
    /error parsing pool "nope".*no IP pool has that name/,
  );
  await assert.rejects(
    assignPodAddresses(w.ipam, req("b", '["off"]')),
    /the given pool \(10\.8\.0\.0\/24\) does not exist, or is not enabled/,
  );
  await assert.rejects(
    assignPodAddresses(w.ipam, req("c", "[oops")),
    /failed to parse the cni\.projectcalico\.org\/ipv4pools annotation/,
  );
  for (let i = 0; i < 4; i++) await assignPodAddresses(w.ipam, req(`ok${i}`, '["tiny"]'));
  await assert.rejects(
    assignPodAddresses(w.ipam, req("full", '["tiny"]')),
    /Assigned 0 out of 1 requested IPv4 addresses; No IPs available in pools: \[10\.9\.0\.0\/30\]/,
  );
  assert.equal((await w.list("IPAMHandle")).length, 4, "the failed pods left no handles behind");
  await assert.rejects(
    w.ipam.autoAssign(one("n1")),
    /no configured Calico pools for node n1/,
    "automatic assignment: the only enabled pool selects no node",
  );
  await assert.rejects(w.ipam.autoAssign(one("ghost")), /nodes "ghost" not found/);
});

test("borrowing: without strict affinity a host takes a free address from another host's block", async () => {
  const w = await ipamWorld();
  await w.pool("p", "10.0.0.0/29", { blockSize: 30 });
  await w.node("a");
  await w.node("b");
  const a = [];
  for (let i = 0; i < 6; i++) a.push(...((await w.ipam.autoAssign(one("a", `a${i}`))).v4?.ips ?? []));
  // a owns both /30 blocks now (4 + 2 used); b has no block left to claim and borrows.
  const b = (await w.ipam.autoAssign(one("b", "b0"))).v4!;
  assert.equal(b.ips.length, 1);
  const owner = (await w.list("IPAMBlock")).find((blk) =>
    blk.spec.cidr.startsWith(b.ips[0]!.replace(/\.\d+$/, "")),
  );
  assert.ok(owner);
  assert.equal((await w.ipam.getAssignmentAttributes(b.ips[0]!))?.handleId, "b0");

  const strict = await ipamWorld();
  await strict.pool("p", "10.0.0.0/29", { blockSize: 30 });
  await strict.node("a");
  await strict.node("b");
  await strict.ipamConfig({ strictAffinity: true });
  for (let i = 0; i < 8; i++) await strict.ipam.autoAssign(one("a", `a${i}`));
  const denied = (await strict.ipam.autoAssign(one("b", "b0"))).v4!;
  assert.match(
    partialFulfillmentError(denied)!.message,
    /No more free affine blocks and strict affinity enabled/,
  );
});

test("maxBlocksPerHost caps new blocks per host", async () => {
  const w = await ipamWorld();
  await w.pool("p", "10.0.0.0/24", { blockSize: 30 });
  await w.node("a");
  await w.ipamConfig({ strictAffinity: true, maxBlocksPerHost: 2 });
  const r = (await w.ipam.autoAssign({ ...one("a", "h"), num4: 9 })).v4!;
  assert.equal(r.ips.length, 8);
  assert.match(partialFulfillmentError(r)!.message, /limit of 2 blocks reached for this node/);
});

test("IPReservation: reserved addresses and wholly reserved blocks are never handed out", async () => {
  const w = await ipamWorld();
  await w.pool("p", "10.0.0.0/28", { blockSize: 30 });
  await w.node("a");
  await w.client.create({
    apiVersion: "projectcalico.org/v3",
    kind: "IPReservation",
    metadata: { name: "r" },
    spec: { reservedCIDRs: ["10.0.0.0/30", "10.0.0.5"] },
  });
  const ips: string[] = [];
  for (let i = 0; i < 11; i++) ips.push(...((await w.ipam.autoAssign(one("a", `h${i}`))).v4?.ips ?? []));
  assert.equal(ips.length, 11);
  for (const bad of ["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.5"])
    assert.ok(!ips.includes(bad), bad);
  assert.equal(
    partialFulfillmentError((await w.ipam.autoAssign(one("a", "x"))).v4!)?.message.includes("Assigned 0"),
    true,
  );
});

test("assignIp claims the block for the host; double assignment and out-of-pool addresses are refused", async () => {
  const w = await ipamWorld();
  await w.pool("p", "10.1.0.0/16");
  await w.node("a");
  await w.ipam.assignIp({ ip: "10.1.2.3", handleId: "fixed", hostname: "a" });
  assert.equal((await w.ipam.getAssignmentAttributes("10.1.2.3"))?.block, "10.1.2.0/26");
  await assert.rejects(
    w.ipam.assignIp({ ip: "10.1.2.3", hostname: "a" }),
    /Address already assigned in block/,
  );
  await assert.rejects(w.ipam.assignIp({ ip: "10.2.0.1", hostname: "a" }), /not in a configured pool/);
  // ipAddrs annotation goes through the same path.
  const ns = await w.namespace("x");
  const r = await assignPodAddresses(w.ipam, {
    pod: pod("x", "pinned", { "cni.projectcalico.org/ipAddrs": '["10.1.9.9"]' }),
    namespace: ns,
    node: "a",
    containerId: "pin",
  });
  assert.deepEqual(r.ips, ["10.1.9.9"]);
});

test("IPv6 and dual stack", async () => {
  const w = await ipamWorld();
  await w.pool("v4", "10.0.0.0/16");
  await w.pool("v6", "fd00:10::/64");
  await w.node("a");
  const ns = await w.namespace("x");
  const r = await assignPodAddresses(w.ipam, {
    pod: pod("x", "dual"),
    namespace: ns,
    node: "a",
    containerId: "d",
    families: [4, 6],
  });
  assert.equal(r.ips.length, 2);
  assert.match(r.ips[1]!, /^fd00:10::/);
  const blocks = await w.list("IPAMBlock");
  assert.ok(blocks.some((b) => b.spec.cidr.endsWith("/122")));
  assert.equal(await w.ipam.releaseByHandle(r.handleId), 2);
});

test("an empty block owned by another host is reclaimed only after a minute", async () => {
  let now = new Date("2026-01-02T03:04:05Z");
  const w = await ipamWorld(() => now);
  await w.pool("p", "10.0.0.0/30", { blockSize: 30 });
  await w.node("a");
  await w.node("b");
  const [ip] = (await w.ipam.autoAssign(one("a", "x"))).v4!.ips;
  await w.ipam.releaseIps([{ address: ip! }]);
  // a's block is empty but keeps its affinity; b may not take it yet.
  const early = (await w.ipam.autoAssign({ ...one("b", "y") })).v4!;
  assert.equal(early.ips.length, 1, "without strict affinity b borrows from a's block instead");
  await w.ipam.releaseByHandle("y");
  now = new Date(now.getTime() + 61_000);
  const later = (await w.ipam.autoAssign(one("b", "z"))).v4!;
  assert.equal(later.ips.length, 1);
  const [block] = await w.list("IPAMBlock");
  assert.equal(block!.spec.affinity, "host:b", "b reclaimed the empty block");
});

test("allowed uses: tunnel addresses, LoadBalancer addresses on the virtual node, workloads only from their pools", async () => {
  const w = await ipamWorld();
  await w.pool("workloads", "10.0.0.0/24");
  await w.pool("tunnels", "10.1.0.0/24", { allowedUses: ["Tunnel"] });
  await w.pool("lb", "10.2.0.0/24", { allowedUses: ["LoadBalancer"] });
  await w.node("n1");
  const tunnel = (
    await w.ipam.autoAssign({
      num4: 1,
      hostname: "n1",
      handleId: tunnelHandleId("vxlan", "n1"),
      attrs: { node: "n1", type: "vxlanTunnelAddress" },
      intendedUse: "Tunnel",
      ipv4Pools: [],
    })
  ).v4!;
  // Both pools allow Tunnel uses (an empty allowedUses means Workload and Tunnel), so the walk decides;
  // a workload must never get the Tunnel-only or LoadBalancer pool.
  assert.match(tunnel.ips[0]!, /^10\.[01]\.0\./);
  for (let i = 0; i < 5; i++) {
    const ip = (await w.ipam.autoAssign(one("n1", `w${i}`))).v4!.ips[0]!;
    assert.match(ip, /^10\.0\.0\./);
  }
  const lb = (
    await w.ipam.autoAssign({ num4: 1, hostname: "ignored", handleId: "lb-1", intendedUse: "LoadBalancer" })
  ).v4!;
  assert.match(lb.ips[0]!, /^10\.2\.0\./);
  const block = (await w.list("IPAMBlock")).find((b) => b.spec.cidr.startsWith("10.2."));
  assert.equal(block?.spec.affinity, "virtual:load-balancer");
  const aff = (await w.list("BlockAffinity")).find((a) => a.spec.type === "virtual");
  assert.equal(aff?.metadata.name, `virtual-load-balancer-${block!.metadata.name}`);
  assert.equal(
    (await w.list("IPAMHandle")).find((h) => h.spec.handleID === "vxlan-tunnel-addr-n1")?.spec.handleID,
    "vxlan-tunnel-addr-n1",
  );
});
