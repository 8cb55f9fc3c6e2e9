// What a settled cluster must satisfy, shared by the convergence property and the crash and concurrency suites.
import assert from "node:assert/strict";
import type { CliContext } from "../../src/cli/context.ts";
import { runCli } from "../../src/cli/main.ts";
import { controlKinds as kinds } from "../../src/control/index.ts";
import type { ResourceClient } from "../../src/store/index.ts";

const now = () => new Date("2026-01-02T03:04:05Z");

async function ipamProblems(client: ResourceClient): Promise<{ problems: number; out: string }> {
  let out = "";
  const ctx: CliContext = {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      out += t;
    },
    now,
    stdin: () => "",
    store: () => client,
  };
  const code = await runCli(["calicoctl", "ipam", "check"], ctx);
  const m = /found (\d+) problems/.exec(out);
  assert.equal(code, 0, out);
  return { problems: m ? Number(m[1]) : -1, out };
}

/**
 * A settled cluster: `ipam check` clean, every pod Running with exactly one address and none shared, every pod
 * handle holding exactly its pod's address, no handle or WorkloadEndpoint without its pod, and every ReplicaSet
 * at its replica count.
 */
export async function assertConverged(client: ResourceClient, label: string): Promise<void> {
  const { problems, out } = await ipamProblems(client);
  const found = out.split("\n").filter((l) => /^Found [1-9]\d* .*(not|no|without|missing)/.test(l));
  assert.equal(problems, 0, `${label}: ipam check found ${problems} problems: ${found.join("; ")}`);
  const pods = await client.list(kinds.Pod);
  const podIps = new Map<string, string>();
  const containerIds = new Set<string>();
  for (const p of pods) {
    const id = `${p.metadata.namespace}/${p.metadata.name}`;
    assert.equal(p.status?.phase, "Running", `${label}: ${id} is ${p.status?.phase}`);
    if (p.spec.hostNetwork) continue;
    const ips: { ip: string }[] = p.status?.podIPs ?? [];
    assert.equal(ips.length, 1, `${label}: ${id} has ${ips.length} addresses`);
    const other = podIps.get(ips[0]!.ip);
    assert.equal(other, undefined, `${label}: ${id} and ${other} share ${ips[0]!.ip}`);
    podIps.set(ips[0]!.ip, id);
    const cid = p.metadata.annotations?.["cni.projectcalico.org/containerID"];
    assert.ok(cid, `${label}: ${id} has no containerID annotation`);
    containerIds.add(cid);
  }
  // Each pod handle holds exactly its pod's address; no handle or endpoint outlives its pod.
  const handleIps = new Map<string, string[]>();
  for (const b of await client.list(kinds.IPAMBlock)) {
    const base = b.spec.cidr.split("/")[0]!.split(".").map(Number);
    (b.spec.allocations as (number | null)[]).forEach((idx, ordinal) => {
      if (idx === null) return;
      const h: string = b.spec.attributes[idx]?.handle_id ?? "";
      const n = ((base[0]! << 24) | (base[1]! << 16) | (base[2]! << 8) | base[3]!) + ordinal;
      const ip = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
      handleIps.set(h, [...(handleIps.get(h) ?? []), ip]);
    });
  }
  for (const h of await client.list(kinds.IPAMHandle)) {
    const id: string = h.spec.handleID;
    if (!id.startsWith("k8s-pod-network.")) continue;
    const cid = id.slice("k8s-pod-network.".length);
    assert.ok(containerIds.has(cid), `${label}: handle ${id} has no pod`);
    const pod = pods.find((p) => p.metadata.annotations?.["cni.projectcalico.org/containerID"] === cid)!;
    assert.deepEqual(handleIps.get(id), [pod.status.podIP], `${label}: ${id} holds ${handleIps.get(id)}`);
  }
  for (const wep of await client.list(kinds.WorkloadEndpoint))
    assert.ok(containerIds.has(wep.spec.containerID), `${label}: endpoint ${wep.metadata.name} has no pod`);
  for (const rs of await client.list(kinds.ReplicaSet)) {
    const mine = pods.filter((p) => p.metadata.ownerReferences?.some((r) => r.uid === rs.metadata.uid));
    assert.equal(mine.length, rs.spec.replicas, `${label}: ${rs.metadata.name} has ${mine.length} pods`);
  }
}
