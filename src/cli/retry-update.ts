import type { ApiObject, KindDef } from "../api/index.ts";
import { type ResourceClient, ResourceError } from "../store/index.ts";

/**
 * How often a read-modify-write that keeps losing races to other writers tries again before it reports the API
 * server's Conflict. The API server's GuaranteedUpdate retries a patch until it applies; this bounds it, as the
 * store's delete does.
 */
export const MAX_UPDATE_ATTEMPTS = 20;

/**
 * Computes the object to store from the live one (a fresh copy on every attempt), or undefined when the request
 * changes nothing. It may throw the request's own errors (an invalid patch, an existing label without
 * --overwrite): those end the loop as they are.
 */
export type Mutation = (live: ApiObject) => ApiObject | undefined | Promise<ApiObject | undefined>;

export interface RetryResult {
  /** The stored object (the live one when nothing changed). */
  object: ApiObject;
  changed: boolean;
  /** The live object the successful (or no-change) attempt was computed from. */
  live: ApiObject;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function isConflict(e: unknown): boolean {
  return e instanceof ResourceError && e.code === "Conflict";
}

/**
 * A request without a resourceVersion precondition (kubectl's PATCHes: scale, label, patch, apply; calicoctl's
 * label, patch and apply), applied as the API server applies a patch: read the live object, compute the new one
 * from it, write it only if the object has not changed meanwhile (compare-and-swap on its resourceVersion), and
 * on a Conflict read again and re-apply the change to the newer object, so no other writer's change is lost and
 * the command's exit status reports its own request. A resourceVersion the mutation sets itself (one in a patch
 * or a manifest) is the user's own precondition: a mismatch is reported, not retried away. NotFound is the usual
 * NotFound, whichever attempt meets it.
 */
export async function updateWithRetry(
  store: ResourceClient,
  def: KindDef,
  name: string,
  namespace: string | undefined,
  mutate: Mutation,
  read: (live: ApiObject | undefined) => Promise<ApiObject> | ApiObject = (live) =>
    live ?? store.mustGet(def, name, namespace),
): Promise<RetryResult> {
  for (let attempt = 1; ; attempt++) {
    const live = await read(await store.get(def, name, namespace));
    const next = await mutate(structuredClone(live));
    if (next === undefined) return { object: live, changed: false, live };
    const own = next.metadata.resourceVersion;
    const precondition = own !== undefined && own !== live.metadata.resourceVersion;
    if (!precondition) next.metadata.resourceVersion = live.metadata.resourceVersion;
    try {
      return { object: await store.update(next), changed: true, live };
    } catch (e) {
      if (precondition || !isConflict(e) || attempt >= MAX_UPDATE_ATTEMPTS) throw e;
    }
    // Writers that lost the same race spread out instead of colliding again (client-go's retry waits ~10 ms).
    await sleep(2 + Math.random() * 8 * Math.min(attempt, 4));
  }
}

/**
 * An unconditional replace (no resourceVersion in the request): stored whatever the object's current version,
 * retried when another writer wins the race between the store's read and its write.
 */
export async function replaceUnconditionally(store: ResourceClient, object: ApiObject): Promise<ApiObject> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await store.update(structuredClone(object));
    } catch (e) {
      if (!isConflict(e) || attempt >= MAX_UPDATE_ATTEMPTS) throw e;
    }
    await sleep(2 + Math.random() * 8 * Math.min(attempt, 4));
  }
}
