import type { KindDef } from "../kind.ts";
import { int, labelSelector, obj, opaque } from "../schema-helpers.ts";
import { checkPodSpec, defaultPodSpec, podTemplate } from "./kubernetes.ts";

/** A DaemonSet (apps/v1): one pod per eligible node, from its template. */
export const DaemonSet: KindDef = {
  group: "apps",
  version: "v1",
  kind: "DaemonSet",
  plural: "daemonsets",
  shortNames: ["ds"],
  namespaced: true,
  nameRule: "dns1123-subdomain",
  body: () => ({
    spec: obj({
      selector: labelSelector,
      template: podTemplate(),
      updateStrategy: opaque.optional(),
      minReadySeconds: int.optional(),
      revisionHistoryLimit: int.optional(),
    }),
    status: opaque.optional(),
  }),
  defaults(o) {
    const s = o.spec;
    s.updateStrategy ??= { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } };
    s.revisionHistoryLimit ??= 10;
    defaultPodSpec(s.template?.spec);
  },
  check(o, out) {
    const s = o.spec;
    const templateLabels: Record<string, string> = s.template?.metadata?.labels ?? {};
    const matches = Object.entries(s.selector?.matchLabels ?? {}).every(([k, v]) => templateLabels[k] === v);
    if (!matches)
      out.push({
        path: "spec.template.metadata.labels",
        message: "Invalid value: `selector` does not match template `labels`",
      });
    if (
      Object.keys(s.selector?.matchLabels ?? {}).length === 0 &&
      (s.selector?.matchExpressions ?? []).length === 0
    )
      out.push({ path: "spec.selector", message: "Invalid value: empty selector is invalid for daemonset" });
    const restartPolicy = s.template?.spec?.restartPolicy;
    if (restartPolicy !== undefined && restartPolicy !== "Always")
      out.push({
        path: "spec.template.spec.restartPolicy",
        message: `Unsupported value: "${restartPolicy}": supported values: "Always"`,
      });
    checkPodSpec(s.template?.spec, "spec.template.spec", out);
  },
};
