/**
 * Outgoing NAT end to end (seed 002 lines ~92–103, "Outgoing NAT"): a pod of the natOutgoing default pool
 * connects to host1, outside the cluster, and host1 sees the node's address; a pod of a pool without
 * natOutgoing keeps its own address, which host1 routes back because it peers with the cluster (seed 002's BGP
 * section: the global BGPPeer to host1, and host1 importing 198.19.24.0/21).
 *
 * Differs from the seed: the seed's external-pool sets natOutgoing: true; here it is false, which is the case
 * where the pod's own address reaches host1.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { CliHarness } from "../cli/harness.ts";
import { EXTERNAL_NS, EXTERNAL_POOL, GLOBAL_PEER, ok, podFromWide, wait } from "./bgp-helpers.ts";

const h = new CliHarness();
after(() => h.cleanup());

before(async () => {
  const up = await h.run("up --app yaobank --no-serve");
  assert.equal(up.code, 0, up.err);
  wait(h, 60);
});

/** Seed 002's external pool, but without natOutgoing (the seed's has it), and its peer: the pod's own address reaches host1. */
const EXTERNAL_POOL_NO_NAT = EXTERNAL_POOL.replace("natOutgoing: true", "natOutgoing: false") + GLOBAL_PEER;
/** A pod of the external pool with no policy on it (seed's nginx has an egress-denying NetworkPolicy). */
const CLIENT = `---
apiVersion: v1
kind: Pod
metadata:
  name: client
  namespace: external-ns
spec:
  nodeSelector:
    kubernetes.io/hostname: node1
  containers:
  - name: client
    image: nginx
`;

/** host1's conntrack entries for connections to its sshd, one line each. */
async function host1Ssh(): Promise<string[]> {
  const r = await h.run("exec host1 -- conntrack -L -p tcp --dport 22");
  assert.equal(r.code, 0, r.err);
  return r.out.trim().split("\n").filter(Boolean);
}

/** Opens a TCP connection from the pod to host1's sshd (port 22), which answers with its banner. */
async function connectToHost1(pod: string): Promise<void> {
  const r = await h.run(`exec ${pod} -- curl -s -m 2 198.19.15.254:22`);
  // sshd's banner is not HTTP: curl connects, then gives up on the reply (exit 1 or 52 per curl version; never 7 or 28).
  assert.ok(![7, 28].includes(r.code), `the connection to host1 failed: exit ${r.code} ${r.err}`);
}

test("a default-pool pod (natOutgoing true) reaches host1 from its node's address", async () => {
  const pool = await ok(h, "calicoctl get ippool -o wide");
  assert.match(pool, /^default-ipv4-ippool +198\.19\.16\.0\/21 +true /m);
  const customer = podFromWide(await ok(h, "kubectl get pods -n yaobank -o wide"), "customer-");
  assert.match(customer.ip, /^198\.19\.(1[6-9]|2[0-3])\.\d+$/);
  const nodeIp = { control: "198.19.0.1", node1: "198.19.0.2", node2: "198.19.0.3" }[customer.node]!;
  await connectToHost1(`yaobank/${customer.name}`);
  const seen = await host1Ssh();
  assert.equal(seen.length, 1, seen.join("\n"));
  assert.match(seen[0]!, new RegExp(`src=${nodeIp.replaceAll(".", "\\.")} dst=198\\.19\\.15\\.254 `));
  assert.doesNotMatch(seen[0]!, new RegExp(customer.ip.replaceAll(".", "\\.")), "host1 never sees the pod");
  // The node's own entry holds the translation: the pod's address out, the node's address in the reply tuple.
  const node = await ok(h, `exec ${customer.node} -- conntrack -L -p tcp --dport 22`);
  assert.match(
    node,
    new RegExp(
      `src=${customer.ip.replaceAll(".", "\\.")} dst=198\\.19\\.15\\.254 .* dst=${nodeIp.replaceAll(".", "\\.")} `,
    ),
  );
  const trace = await ok(h, `trace ${customer.ip} 198.19.15.254:22`);
  assert.match(trace, /-j MASQUERADE --random-fully/);
  assert.match(
    trace,
    new RegExp(
      `^host1\\n  receive in ens4: ${nodeIp.replaceAll(".", "\\.")}:\\d+ → 198\\.19\\.15\\.254:22`,
      "m",
    ),
  );
  assert.match(trace, /^verdict: delivered /m);
});

test("a pod of a pool without natOutgoing reaches host1 from its own address, routed back over BGP", async () => {
  assert.match(await ok(h, "calicoctl apply -f -", EXTERNAL_POOL_NO_NAT), /Successfully applied 2 /);
  assert.equal(await ok(h, "kubectl apply -f -", EXTERNAL_NS), "namespace/external-ns created\n");
  assert.equal(await ok(h, "kubectl apply -f -", CLIENT), "pod/client created\n");
  const client = podFromWide(await ok(h, "kubectl get pods -n external-ns -o wide"), "client");
  assert.match(client.ip, /^198\.19\.(2[4-9]|3[01])\.\d+$/);
  wait(h, 10); // BGP: host1 learns the external pool's block
  await connectToHost1(`external-ns/${client.name}`);
  const seen = (await host1Ssh()).filter((l) => l.includes(`src=${client.ip} `));
  assert.equal(seen.length, 1, "host1 sees the pod's own address");
  const trace = await ok(h, `trace ${client.ip} 198.19.15.254:22`);
  assert.doesNotMatch(trace, /nat MASQUERADE/);
  assert.match(
    trace,
    new RegExp(
      `^host1\\n  receive in ens4: ${client.ip.replaceAll(".", "\\.")}:\\d+ → 198\\.19\\.15\\.254:22`,
      "m",
    ),
  );
  assert.match(trace, /^verdict: delivered /m);
});
