import { allKinds, apiVersionOf, type KindDef } from "../api/index.ts";
import { unmodelledKinds } from "./unmodelled-kinds.ts";

/**
 * `/version`. tortie reports Kubernetes v1.32.0: the API it serves follows Kubernetes 1.32 (the kinds, the
 * discovery formats, the messages), and Debian's kubectl is 1.32, so kubectl sees no version skew. The build
 * metadata `+tortie` says which server it is, as k3s says `+k3s1`.
 */
export const SERVER_VERSION = {
  major: "1",
  minor: "32",
  gitVersion: "v1.32.0+tortie",
  gitCommit: "0000000000000000000000000000000000000000",
  gitTreeState: "clean",
  buildDate: "2024-12-11T00:00:00Z",
  goVersion: "go1.23.3",
  compiler: "gc",
  platform: "linux/amd64",
};

const ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
/** Kinds only tortie's controllers write are read-only through the API (the store refuses user writes). */
const READ_VERBS = ["get", "list", "watch"];

/** Kubernetes' `all` category (kubectl get all): the workload kinds tortie has. */
const IN_ALL_CATEGORY = new Set(["/Pod", "/Service", "apps/DaemonSet", "apps/Deployment", "apps/ReplicaSet"]);

/** Kinds whose objects have a `status` the API server keeps behind a `status` subresource. */
const WITH_STATUS = new Set([
  "/Namespace",
  "/Node",
  "/Pod",
  "/Service",
  "apps/DaemonSet",
  "apps/Deployment",
  "apps/ReplicaSet",
  "operator.tigera.io/Installation",
  "operator.tigera.io/TigeraStatus",
]);
const WITH_SCALE = new Set(["apps/Deployment", "apps/ReplicaSet"]);

interface Subresource {
  name: string;
  kind: { group: string; version: string; kind: string };
  verbs: string[];
}

/** What discovery says about one resource, in one place for the legacy and the aggregated formats. */
interface ResourceInfo {
  def: KindDef;
  singular: string;
  verbs: string[];
  categories: string[];
  subresources: Subresource[];
}

function resourceInfo(def: KindDef): ResourceInfo {
  const id = `${def.group}/${def.kind}`;
  const self = { group: def.group, version: def.version, kind: def.kind };
  const subresources: Subresource[] = [];
  if (WITH_STATUS.has(id))
    subresources.push({ name: "status", kind: self, verbs: ["get", "patch", "update"] });
  if (WITH_SCALE.has(id))
    subresources.push({
      name: "scale",
      kind: { group: "autoscaling", version: "v1", kind: "Scale" },
      verbs: ["get", "patch", "update"],
    });
  if (id === "/Pod") {
    subresources.push({ name: "log", kind: self, verbs: ["get"] });
    subresources.push({
      name: "exec",
      kind: { group: "", version: "v1", kind: "PodExecOptions" },
      verbs: ["create", "get"],
    });
  }
  return {
    def,
    singular: def.kind.toLowerCase(),
    verbs: def.managedBy ? READ_VERBS : ALL_VERBS,
    categories: IN_ALL_CATEGORY.has(id) ? ["all"] : [],
    subresources,
  };
}

/** Group name → its kinds, in registry order (the core group is ""), then the kinds tortie serves unmodelled. */
function groups(): Map<string, KindDef[]> {
  const out = new Map<string, KindDef[]>();
  for (const def of [...allKinds, ...unmodelledKinds]) {
    const list = out.get(def.group) ?? [];
    list.push(def);
    out.set(def.group, list);
  }
  return out;
}

const GROUPS = groups();

export function kindsInGroupVersion(group: string, version: string): KindDef[] | undefined {
  const defs = GROUPS.get(group)?.filter((d) => d.version === version);
  return defs && defs.length > 0 ? defs : undefined;
}

/** The kind a URL's `<plural>` names in a group version. */
export function kindForPlural(group: string, version: string, plural: string): KindDef | undefined {
  return kindsInGroupVersion(group, version)?.find((d) => d.plural === plural);
}

function versionsOf(group: string): string[] {
  return [...new Set((GROUPS.get(group) ?? []).map((d) => d.version))];
}

export function apiVersions(serverAddress: string): object {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
  };
}

function apiGroup(group: string): object {
  const versions = versionsOf(group).map((version) => ({ groupVersion: `${group}/${version}`, version }));
  return { name: group, versions, preferredVersion: versions[0] };
}

export function apiGroupList(): object {
  const named = [...GROUPS.keys()].filter((g) => g !== "");
  return { kind: "APIGroupList", apiVersion: "v1", groups: named.map(apiGroup) };
}

export function apiGroupDocument(group: string): object | undefined {
  if (group === "" || !GROUPS.has(group)) return undefined;
  return { kind: "APIGroup", apiVersion: "v1", ...apiGroup(group) };
}

/** `/api/v1`, `/apis/<group>/<version>`: the legacy APIResourceList, subresources as `pods/log` entries. */
export function apiResourceList(group: string, version: string): object | undefined {
  const defs = kindsInGroupVersion(group, version);
  if (!defs) return undefined;
  const resources: object[] = [];
  for (const info of defs.map(resourceInfo)) {
    const { def } = info;
    resources.push({
      name: def.plural,
      singularName: info.singular,
      namespaced: def.namespaced,
      kind: def.kind,
      verbs: info.verbs,
      ...(def.shortNames?.length ? { shortNames: def.shortNames } : {}),
      ...(info.categories.length ? { categories: info.categories } : {}),
    });
    for (const sub of info.subresources)
      resources.push({
        name: `${def.plural}/${sub.name}`,
        singularName: "",
        namespaced: def.namespaced,
        ...(sub.kind.group !== def.group ? { group: sub.kind.group, version: sub.kind.version } : {}),
        kind: sub.kind.kind,
        verbs: sub.verbs,
      });
  }
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: apiVersionOf({ group, version }),
    resources,
  };
}

function discoveryVersion(group: string, version: string): object {
  const resources = kindsInGroupVersion(group, version)!
    .map(resourceInfo)
    .map((info) => ({
      resource: info.def.plural,
      responseKind: { group, version, kind: info.def.kind },
      scope: info.def.namespaced ? "Namespaced" : "Cluster",
      singularResource: info.singular,
      verbs: info.verbs,
      ...(info.def.shortNames?.length ? { shortNames: info.def.shortNames } : {}),
      ...(info.categories.length ? { categories: info.categories } : {}),
      ...(info.subresources.length
        ? {
            subresources: info.subresources.map((s) => ({
              subresource: s.name,
              responseKind: s.kind,
              verbs: s.verbs,
            })),
          }
        : {}),
    }));
  return { version, resources, freshness: "Current" };
}

/** Which aggregated discovery format the client accepts, if any (kubectl 1.32 asks for v2, then v2beta1). */
export function aggregatedDiscoveryVersion(accept: string | undefined): "v2" | "v2beta1" | undefined {
  if (!accept) return undefined;
  const offers = accept.split(",").map((part) => {
    const params = new Map<string, string>();
    for (const p of part.split(";").slice(1)) {
      const [k, v] = p.split("=", 2);
      if (k && v) params.set(k.trim(), v.trim());
    }
    return params;
  });
  const wants = (v: string) =>
    offers.some(
      (p) =>
        p.get("g") === "apidiscovery.k8s.io" && p.get("v") === v && p.get("as") === "APIGroupDiscoveryList",
    );
  if (wants("v2")) return "v2";
  if (wants("v2beta1")) return "v2beta1";
  return undefined;
}

/** The content type client-go checks before it decodes aggregated discovery (discovery_client.go). */
export function aggregatedContentType(version: "v2" | "v2beta1"): string {
  return `application/json;g=apidiscovery.k8s.io;v=${version};as=APIGroupDiscoveryList`;
}

/** `/api` (the core group only) or `/apis` (every named group) as an APIGroupDiscoveryList. */
export function aggregatedDiscovery(which: "core" | "named", version: "v2" | "v2beta1"): object {
  const names = [...GROUPS.keys()].filter((g) => (which === "core" ? g === "" : g !== ""));
  return {
    kind: "APIGroupDiscoveryList",
    apiVersion: `apidiscovery.k8s.io/${version}`,
    metadata: {},
    items: names.map((group) => ({
      metadata: group === "" ? { creationTimestamp: null } : { name: group, creationTimestamp: null },
      versions: versionsOf(group).map((v) => discoveryVersion(group, v)),
    })),
  };
}
