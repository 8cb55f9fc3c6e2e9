/**
 * The operator's part of switching dataplanes (tigera/operator pkg/controller/installation/bpf.go and
 * setBPFUpdatesOnFelixConfiguration): Installation `spec.calicoNetwork.linuxDataplane: BPF` sets FelixConfiguration
 * default `spec.bpfEnabled: true`, with the annotation `operator.tigera.io/bpfEnabled` recording what it wrote, so
 * it can tell a user's own edit of the field from its own; any other dataplane turns a true `bpfEnabled` back off.
 */
import type { ApiObject } from "../api/index.ts";
import { kinds } from "./topology.ts";
import type { Writer } from "./writes.ts";

/** The annotation the operator keeps equal to the `bpfEnabled` it wrote (pkg/render/node.go BPFOperatorAnnotation). */
export const BPF_OPERATOR_ANNOTATION = "operator.tigera.io/bpfEnabled";

/**
 * FelixConfiguration default's `bpfEnabled` as the Installation asks. Unlike the operator, which writes `false`
 * when the field is absent too, the field is left absent in iptables mode (the same dataplane, and what
 * `calicoctl get felixconfiguration` showed before the operator was modelled). When the field and the annotation
 * disagree, someone else changed the field: the operator refuses to override it, and so does this.
 */
export async function reconcileOperatorDataplane(w: Writer): Promise<void> {
  const install = await w.client.get(kinds.Installation, "default");
  const felix = await w.client.get(kinds.FelixConfiguration, "default");
  if (!install || !felix) return;
  const wantBpf = install.spec?.calicoNetwork?.linuxDataplane === "BPF";
  const have = felix.spec?.bpfEnabled as boolean | undefined;
  if (wantBpf ? have === true : have !== true) return;
  if (!annotationMatches(felix)) return;
  await w.patch(felix, {
    ...felix,
    metadata: {
      ...felix.metadata,
      annotations: { ...(felix.metadata.annotations ?? {}), [BPF_OPERATOR_ANNOTATION]: String(wantBpf) },
    },
    spec: { ...felix.spec, bpfEnabled: wantBpf },
  });
}

/** Both absent, or both set and equal (bpfValidateAnnotations). */
function annotationMatches(felix: ApiObject): boolean {
  const text = felix.metadata.annotations?.[BPF_OPERATOR_ANNOTATION];
  const field = felix.spec?.bpfEnabled as boolean | undefined;
  if (text === undefined || text === "") return field === undefined;
  return field !== undefined && String(field) === text;
}
