// The CNI step is idempotent per handle (k8s-pod-network.<containerID>): a kubelet killed after allocating and
// run again gets the pod's addresses back instead of a second set, and what a half-done try left is repaired.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assignPodAddresses } from "../../src/ipam/index.ts";
import { ipamWorld, pod } from "../ipam/helpers.ts";

test("a retried pod ADD reuses the handle's address; a handle holding the wrong set is released first", async () => {
  const w = await ipamWorld();
  await w.pool("default-ipv4-ippool", "198.19.16.0/21");
  await w.node("node1");
  const ns = await w.namespace("apps");
  const req = { pod: pod("apps", "a"), namespace: ns, node: "node1", containerId: "c1" };
  const first = await assignPodAddresses(w.ipam, req);
  const again = await assignPodAddresses(w.ipam, req);
  assert.deepEqual(again, first);
  assert.deepEqual(await w.ipam.ipsByHandle("k8s-pod-network.c1"), first.ips);

  // The handle holds an extra address (two tries that both allocated): the retry starts over with one.
  await w.ipam.assignIp({ ip: "198.19.16.200", handleId: "k8s-pod-network.c1", hostname: "node1" });
  assert.equal((await w.ipam.ipsByHandle("k8s-pod-network.c1"))!.length, 2);
  const repaired = await assignPodAddresses(w.ipam, req);
  assert.equal(repaired.ips.length, 1);
  assert.deepEqual(await w.ipam.ipsByHandle("k8s-pod-network.c1"), repaired.ips);
  assert.equal(await w.ipam.getAssignmentAttributes("198.19.16.200"), undefined);
  assert.equal(await w.ipam.ipsByHandle("k8s-pod-network.none"), undefined);

  // Released by handle, nothing of it is left: no handle object either.
  assert.equal(await w.ipam.releaseByHandle("k8s-pod-network.c1"), 1);
  assert.deepEqual(await w.list("IPAMHandle"), []);
});
