import type { KindDef } from "../kind.ts";
import { int, labelSelector, obj, opaque } from "../schema-helpers.ts";
import { checkPodSpec, checkWorkloadSelector, defaultPodSpec, podTemplate } from "./kubernetes.ts";

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
    checkWorkloadSelector(s, "daemonset", out);
    const restartPolicy = s.template?.spec?.restartPolicy;
    if (restartPolicy !== undefined && restartPolicy !== "Always")
      out.push({
        path: "spec.template.spec.restartPolicy",
        message: `Unsupported value: "${restartPolicy}": supported values: "Always"`,
      });
    checkPodSpec(s.template?.spec, "spec.template.spec", out);
  },
};
