/**
 * The verdict of a pod-to-pod connection when the cluster has no host endpoints: Felix then polices it at two
 * points only, the source pod's egress (`cali-fw-`) and the destination pod's ingress (`cali-tw-`), on the same
 * node or across nodes alike — the path walk of `evaluateFlow` reduces to these two decisions. The matrix asks
 * this for every class pair and port; skipping the walk (its closures, check records and host-endpoint
 * lookups) leaves only the policy work. test/policy/pod-verdict.test.ts checks it against `evaluateFlow`.
 */
import { evaluateAt } from "./evaluate.ts";
import type { Endpoint } from "./model.ts";
import type { PolicyIndex } from "./policy-index.ts";
import type { Packet } from "./rule-match.ts";

/** The source port `evaluateFlow` gives a connection that names none. */
const EPHEMERAL_PORT = 40000;

/**
 * How a pod-to-pod verdict was reached: 0 denied at the source's egress (one check made), 1 denied at the
 * destination's ingress (two checks), 2 allowed (two checks) — the checks `evaluateFlow`'s path records.
 */
export type PodVerdict = 0 | 1 | 2;

/** Whether `podToPodVerdict` gives `evaluateFlow`'s answer for these two endpoints in this index. */
export function podToPodApplies(index: PolicyIndex, src: Endpoint, dst: Endpoint): boolean {
  return (
    index.hostEndpointsByNode.size === 0 &&
    src.kind === "workload" &&
    dst.kind === "workload" &&
    src.ips.length > 0 &&
    dst.ips.length > 0
  );
}

/** A packet from `src` to `dst` as `evaluateFlow` builds it; `dstPort` and `protocol` are set per query. */
export function podPacket(src: Endpoint, dst: Endpoint): Packet {
  return { protocol: 0, src: src.ips[0]!, dst: dst.ips[0]!, dstPort: 0, srcPort: EPHEMERAL_PORT };
}

/** Only valid where `podToPodApplies`. */
export function podToPodVerdict(
  index: PolicyIndex,
  src: Endpoint,
  dst: Endpoint,
  packet: Packet,
): PodVerdict {
  if (evaluateAt(index, src, "egress", "workload", packet, false).verdict === "deny") return 0;
  if (evaluateAt(index, dst, "ingress", "workload", packet, false).verdict === "deny") return 1;
  return 2;
}
