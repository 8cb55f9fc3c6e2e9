import { createHash } from "node:crypto";

/** Kubernetes' rand.SafeEncodeString alphabet: no vowels, no confusable digits, so names never spell words. */
const SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

function safeEncode(bytes: Iterable<number>): string {
  let out = "";
  for (const b of bytes) out += SAFE_ALPHABET[b % SAFE_ALPHABET.length];
  return out;
}

/**
 * The pod-template-hash a Deployment names its ReplicaSet with: FNV-1a 32 of the template, its decimal form
 * safe-encoded. Kubernetes hashes a Go dump of the template; tortie hashes canonical JSON, so the shape and
 * alphabet match but the value is tortie's own.
 */
export function podTemplateHash(template: unknown, collisionCount = 0): string {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(canonicalJson(template) + (collisionCount ? String(collisionCount) : ""))) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return safeEncode(Buffer.from(String(h)));
}

/**
 * A random-looking suffix (`generateName`'s 5 characters) that is a pure function of `seed`, so the same
 * cluster built twice gets the same pod names.
 */
export function nameSuffix(seed: string, length = 5): string {
  return safeEncode(createHash("sha256").update(seed).digest().subarray(0, length));
}

/** A number in [0, span) derived from `seed`: deterministic stand-in for the API server's random picks. */
export function seededOffset(seed: string, span: bigint): bigint {
  const digest = createHash("sha256").update(seed).digest("hex");
  return BigInt(`0x${digest.slice(0, 30)}`) % span;
}

/** Calico's host-side veth name: `cali` + the first 11 hex digits of sha1("<namespace>.<pod>"). */
export function calicoInterfaceName(namespace: string, pod: string): string {
  return `cali${createHash("sha1").update(`${namespace}.${pod}`).digest("hex").slice(0, 11)}`;
}

/** Calico's WorkloadEndpoint name: `<node>-k8s-<pod>-<endpoint>`, each part with `-` doubled. */
export function workloadEndpointName(node: string, pod: string, endpoint = "eth0"): string {
  const esc = (s: string) => s.replaceAll("-", "--");
  return `${esc(node)}-k8s-${esc(pod)}-${esc(endpoint)}`;
}

/** The container ID the CNI step is called with: derived from the pod's UID, 64 hex digits like containerd's. */
export function containerIdFor(podUid: string): string {
  return createHash("sha256").update(podUid).digest("hex");
}

/** A locally administered unicast MAC for a pod's eth0, derived from its container ID. */
export function podMac(containerId: string): string {
  const b = createHash("sha256").update(`mac:${containerId}`).digest();
  b[0] = (b[0]! & 0xfe) | 0x02;
  return [...b.subarray(0, 6)].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v && typeof v === "object")
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(v) ?? "null";
}
