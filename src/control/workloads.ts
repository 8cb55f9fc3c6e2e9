import { type ApiObject, allKinds } from "../api/index.ts";
import { deepClone } from "../lib/index.ts";
import { conditionIsTrue } from "./conditions.ts";
import { type LabelSelector, matchesLabelSelector } from "./label-selector.ts";
import { nameSuffix, podTemplateHash } from "./names.ts";
import { kinds } from "./topology.ts";
import { isOwnedBy, ownerRef, timestamp, type Writer } from "./writes.ts";

export function isPodReady(p: ApiObject): boolean {
  return conditionIsTrue(p, "Ready");
}

/**
 * The Deployment controller: one ReplicaSet per pod template (`<deployment>-<pod-template-hash>`), the current
 * one scaled to `replicas` and older ones to zero, and the Deployment's status from their pods. Tortie replaces
 * pods in one step rather than surging them in a rolling update.
 */
export async function reconcileDeployments(w: Writer, now: Date): Promise<void> {
  const deployments = await w.client.list(kinds.Deployment);
  const replicaSets = await w.client.list(kinds.ReplicaSet);
  const pods = await w.client.list(kinds.Pod);
  for (const d of deployments) {
    const ns = d.metadata.namespace!;
    const template = deepClone(d.spec.template);
    const hash = podTemplateHash(template);
    const rsName = `${d.metadata.name}-${hash}`;
    const labels = { ...(template.metadata?.labels ?? {}), "pod-template-hash": hash };
    const owned = replicaSets.filter((rs) => rs.metadata.namespace === ns && isOwnedBy(rs, d));
    const current = await w.ensure(kinds.ReplicaSet, {
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      metadata: {
        name: rsName,
        namespace: ns,
        labels,
        annotations: {
          "deployment.kubernetes.io/desired-replicas": String(d.spec.replicas),
          "deployment.kubernetes.io/max-replicas": String(d.spec.replicas),
          "deployment.kubernetes.io/revision": String(owned.length === 0 ? 1 : revisionOf(owned, rsName)),
        },
        ownerReferences: [ownerRef(d)],
      },
      spec: {
        replicas: d.spec.replicas,
        selector: {
          ...d.spec.selector,
          matchLabels: { ...(d.spec.selector.matchLabels ?? {}), "pod-template-hash": hash },
        },
        template: { ...template, metadata: { ...(template.metadata ?? {}), labels } },
      },
    });
    for (const rs of owned)
      if (rs.metadata.name !== rsName && rs.spec.replicas !== 0)
        await w.patch(rs, { ...rs, spec: { ...rs.spec, replicas: 0 } });

    const mine = pods.filter(
      (p) => p.metadata.namespace === ns && owned.concat(current).some((rs) => isOwnedBy(p, rs)),
    );
    const updated = mine.filter((p) => isOwnedBy(p, current));
    const ready = mine.filter(isPodReady).length;
    const available = ready >= d.spec.replicas;
    const condition = (type: string, status: boolean, reason: string, message: string) => ({
      type,
      status: status ? "True" : "False",
      lastUpdateTime: previousTime(d, type, status, now),
      lastTransitionTime: previousTime(d, type, status, now),
      reason,
      message,
    });
    const status: Record<string, unknown> = {
      observedGeneration: d.metadata.generation,
      replicas: mine.length,
      updatedReplicas: updated.length,
      readyReplicas: ready,
      availableReplicas: ready,
      unavailableReplicas: Math.max(0, d.spec.replicas - ready),
      conditions: [
        condition(
          "Available",
          available,
          available ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
          available
            ? "Deployment has minimum availability."
            : "Deployment does not have minimum availability.",
        ),
        condition(
          "Progressing",
          true,
          updated.length >= d.spec.replicas && available ? "NewReplicaSetAvailable" : "ReplicaSetUpdated",
          updated.length >= d.spec.replicas && available
            ? `ReplicaSet "${rsName}" has successfully progressed.`
            : `ReplicaSet "${rsName}" is progressing.`,
        ),
      ],
    };
    for (const k of ["readyReplicas", "availableReplicas", "unavailableReplicas"])
      if (status[k] === 0) delete status[k];
    await w.setStatus(d, status);
  }
}

function revisionOf(owned: ApiObject[], name: string): number {
  const existing = owned.find((rs) => rs.metadata.name === name);
  const rev = Number(existing?.metadata.annotations?.["deployment.kubernetes.io/revision"]);
  if (existing && rev) return rev;
  return (
    Math.max(
      0,
      ...owned.map((rs) => Number(rs.metadata.annotations?.["deployment.kubernetes.io/revision"] ?? 0)),
    ) + 1
  );
}

function previousTime(o: ApiObject, type: string, status: boolean, now: Date): string {
  const c = (
    (o.status?.conditions ?? []) as { type: string; status: string; lastTransitionTime?: string }[]
  ).find((x) => x.type === type);
  return c && c.status === (status ? "True" : "False") && c.lastTransitionTime
    ? c.lastTransitionTime
    : timestamp(now);
}

/** The ReplicaSet controller: creates or deletes pods (`<replicaset>-<5 chars>`) until `replicas` exist. */
export async function reconcileReplicaSets(w: Writer): Promise<void> {
  const replicaSets = await w.client.list(kinds.ReplicaSet);
  const pods = await w.client.list(kinds.Pod);
  const names = new Set(pods.map((p) => `${p.metadata.namespace}/${p.metadata.name}`));
  for (const rs of replicaSets) {
    const ns = rs.metadata.namespace!;
    const mine = pods.filter((p) => p.metadata.namespace === ns && isOwnedBy(p, rs));
    const want = Number(rs.spec.replicas ?? 1);
    // Seeded with the store revision: a replacement pod gets a new name, and the same history the same names.
    const revision = mine.length < want ? await w.client.backend.revision() : 0;
    for (let attempt = 0; mine.length < want; attempt++) {
      const name = `${rs.metadata.name}-${nameSuffix(`${ns}/${rs.metadata.name}/${revision}/${attempt}`)}`;
      if (names.has(`${ns}/${name}`)) continue;
      names.add(`${ns}/${name}`);
      const template = deepClone(rs.spec.template);
      const pod = await w.create({
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name,
          generateName: `${rs.metadata.name}-`,
          namespace: ns,
          labels: template.metadata?.labels ?? {},
          ...(template.metadata?.annotations ? { annotations: template.metadata.annotations } : {}),
          ownerReferences: [ownerRef(rs)],
        },
        spec: template.spec,
      });
      mine.push(pod);
    }
    // Scale down: unscheduled pods first, then the newest.
    const surplus = [...mine]
      .sort(
        (a, b) =>
          Number(!!a.spec.nodeName) - Number(!!b.spec.nodeName) ||
          cmp(b.metadata.creationTimestamp, a.metadata.creationTimestamp) ||
          cmp(b.metadata.name, a.metadata.name),
      )
      .slice(0, Math.max(0, mine.length - want));
    for (const p of surplus) await w.remove(kinds.Pod, p);
    const left = mine.filter((p) => !surplus.includes(p));
    const ready = left.filter(isPodReady).length;
    const selector = rs.spec.selector as LabelSelector;
    const status: Record<string, unknown> = {
      replicas: left.length,
      fullyLabeledReplicas: left.filter((p) => matchesLabelSelector(selector, p.metadata.labels ?? {}))
        .length,
      readyReplicas: ready,
      availableReplicas: ready,
      observedGeneration: rs.metadata.generation,
    };
    for (const k of ["readyReplicas", "availableReplicas", "fullyLabeledReplicas"])
      if (status[k] === 0) delete status[k];
    await w.setStatus(rs, status);
  }
}

function cmp(a: string | undefined, b: string | undefined): number {
  return (a ?? "") < (b ?? "") ? -1 : (a ?? "") > (b ?? "") ? 1 : 0;
}

/**
 * Garbage collection: objects in a namespace that no longer exists are deleted (the namespace controller's
 * cascade), and so are objects whose controlling owner is gone (ReplicaSets, pods, slices).
 */
export async function collectOrphans(w: Writer): Promise<void> {
  const namespaces = new Set((await w.client.list(kinds.Namespace)).map((n) => n.metadata.name));
  for (const def of allKinds) {
    if (!def.namespaced) continue;
    for (const o of await w.client.list(def))
      if (!namespaces.has(o.metadata.namespace)) await w.remove(def, o);
  }
  const uids = new Set<string>();
  for (const def of [kinds.Deployment, kinds.ReplicaSet, kinds.DaemonSet, kinds.Service])
    for (const o of await w.client.list(def)) uids.add(o.metadata.uid!);
  for (const def of [kinds.ReplicaSet, kinds.Pod, kinds.EndpointSlice])
    for (const o of await w.client.list(def)) {
      const owner = (o.metadata.ownerReferences ?? []).find((r) => r.controller === true);
      if (owner && !uids.has(String(owner.uid))) await w.remove(def, o);
    }
}
