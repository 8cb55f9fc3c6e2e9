import { apiVersionOf, type KindDef } from "./kind.ts";
import { calicoNetworkKinds } from "./kinds/calico-network.ts";
import { calicoPolicyKinds } from "./kinds/calico-policy.ts";
import { DaemonSet } from "./kinds/daemonset.ts";
import { kubernetesKinds } from "./kinds/kubernetes.ts";
import { tortieKinds } from "./kinds/tortie.ts";

/** Kubernetes kinds first: kubectl resolves an ambiguous name (node, networkpolicy) to the core group. */
export const allKinds: readonly KindDef[] = [
  ...kubernetesKinds,
  DaemonSet,
  ...calicoPolicyKinds,
  ...calicoNetworkKinds,
  ...tortieKinds,
];

const byApiVersionKind = new Map(allKinds.map((d) => [`${apiVersionOf(d)}|${d.kind}`, d]));

export function findKind(apiVersion: string, kind: string): KindDef | undefined {
  return byApiVersionKind.get(`${apiVersion}|${kind}`);
}

/** A kind with the same name in another API version, to tell the user what they probably meant. */
export function kindsNamed(kind: string): KindDef[] {
  return allKinds.filter((d) => d.kind === kind);
}

/** kubectl's resource names: plural, singular, short names, and `name.group`, case-insensitively. */
export function resolveKubectlResource(name: string): KindDef | undefined {
  const lower = name.toLowerCase();
  const dot = lower.indexOf(".");
  const [base, group] = dot === -1 ? [lower, undefined] : [lower.slice(0, dot), lower.slice(dot + 1)];
  return allKinds.find(
    (d) =>
      (group === undefined || d.group === group || `${d.version}.${d.group}` === group) &&
      (d.plural === base || d.kind.toLowerCase() === base || (d.shortNames ?? []).includes(base)),
  );
}

/** calicoctl's resource names (resourcemgr registerResource), case-insensitively. */
export function resolveCalicoctlResource(name: string): KindDef | undefined {
  const lower = name.toLowerCase();
  return allKinds.find((d) => (d.calicoctlNames ?? []).includes(lower));
}
