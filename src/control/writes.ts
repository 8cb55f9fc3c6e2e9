import type { ApiObject, KindDef } from "../api/index.ts";
import { deepEqual } from "../lib/index.ts";
import type { ResourceClient } from "../store/index.ts";

/** Counts the writes one reconcile pass makes, so the loop knows when the cluster has settled. */
export class Writer {
  writes = 0;
  constructor(readonly client: ResourceClient) {}

  async create(o: ApiObject): Promise<ApiObject> {
    this.writes++;
    const created = await this.client.create(o, { asController: true });
    if (o.status !== undefined && !deepEqual(created.status, o.status))
      return this.client.update({ ...created, status: o.status }, { asController: true, withStatus: true });
    return created;
  }

  /**
   * Creates `desired` (status included) if it does not exist; otherwise makes the stored object carry
   * `desired`'s labels, annotations, owner references, spec and other top-level fields, writing only when some
   * field `desired` sets differs (fields the API server defaults or allocates are left alone). Status is only
   * written on create; controllers own it through setStatus.
   */
  async ensure(def: KindDef, desired: ApiObject): Promise<ApiObject> {
    const live = await this.client.get(def, desired.metadata.name!, desired.metadata.namespace);
    if (!live) return this.create(desired);
    return this.patch(live, desired);
  }

  /** Writes `desired`'s fields (not status) over `live` if any of them differs. */
  async patch(live: ApiObject, desired: ApiObject): Promise<ApiObject> {
    const { status: _status, metadata, apiVersion: _a, kind: _k, ...fields } = desired;
    const meta: Record<string, unknown> = {};
    for (const f of ["labels", "annotations", "ownerReferences"] as const)
      if (metadata[f] !== undefined) meta[f] = metadata[f];
    if (isSubset(fields, live) && isSubset(meta, live.metadata)) return live;
    this.writes++;
    const next: ApiObject = { ...live, ...fields, metadata: { ...live.metadata, ...meta } };
    return this.client.update(next, { asController: true });
  }

  async setStatus(live: ApiObject, status: unknown): Promise<ApiObject> {
    if (deepEqual(live.status, status)) return live;
    this.writes++;
    return this.client.update({ ...live, status }, { asController: true, withStatus: true });
  }

  async remove(def: KindDef, o: ApiObject): Promise<void> {
    this.writes++;
    try {
      await this.client.delete(def, o.metadata.name!, o.metadata.namespace, { asController: true });
    } catch (e) {
      if ((e as { code?: string }).code !== "NotFound") throw e;
    }
  }
}

/** Every field `want` sets has the same value in `have` (arrays element by element, same length). */
export function isSubset(want: unknown, have: unknown): boolean {
  if (Array.isArray(want))
    return Array.isArray(have) && want.length === have.length && want.every((w, i) => isSubset(w, have[i]));
  if (want !== null && typeof want === "object") {
    if (have === null || typeof have !== "object" || Array.isArray(have)) return false;
    return Object.entries(want).every(
      ([k, v]) => v === undefined || isSubset(v, (have as Record<string, unknown>)[k]),
    );
  }
  return want === have;
}

export function ownerRef(owner: ApiObject, controller = true): Record<string, unknown> {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
    controller,
    blockOwnerDeletion: true,
  };
}

export function isOwnedBy(o: ApiObject, owner: ApiObject): boolean {
  return (o.metadata.ownerReferences ?? []).some((r) => r.uid === owner.metadata.uid);
}

/** RFC 3339 with seconds, as Kubernetes writes timestamps. */
export function timestamp(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}
