import { z } from "zod";
import { parseCidr, parseCidrOrIp, parseIp } from "../net/index.ts";
import { tryParseSelector } from "../selector/index.ts";

/** Strict objects: like calicoctl's UnmarshalStrict and the API server's strict field validation. */
export const obj = <T extends z.ZodRawShape>(shape: T) => z.strictObject(shape);

export const str = z.string();
export const bool = z.boolean();
export const int = z.number().int();
export const num = z.number();
export const strMap = z.record(z.string(), z.string());
export const strList = z.array(z.string());

export const ipString = z.string().refine((s) => parseIp(s) !== undefined, { message: "invalid IP address" });
export const cidrString = z.string().refine((s) => parseCidr(s) !== undefined, { message: "invalid CIDR" });
/** Calico accepts a bare IP where it expects a network (`nets`, reservedCIDRs). */
export const netString = z
  .string()
  .refine((s) => parseCidrOrIp(s) !== undefined, { message: "invalid CIDR or IP address" });

export const selectorString = z.string().superRefine((s, ctx) => {
  const r = tryParseSelector(s);
  if (r.error) ctx.addIssue({ code: "custom", message: `invalid selector ${JSON.stringify(s)}: ${r.error}` });
});

export const portNumber = int.min(1).max(65535);
/** Kubernetes IntOrString for ports: a number, or an IANA service name. */
export const intOrString = z.union([int, z.string()]);

/** Calico numorstring.Port: a number, "min:max", or a named port. */
export const calicoPort = z.union([int.min(0).max(65535), z.string()]).superRefine((p, ctx) => {
  if (typeof p === "number") return;
  const range = /^(\d+):(\d+)$/.exec(p);
  if (range) {
    const [lo, hi] = [Number(range[1]), Number(range[2])];
    if (lo > 65535 || hi > 65535 || lo > hi)
      ctx.addIssue({ code: "custom", message: `invalid port range ${JSON.stringify(p)}` });
    return;
  }
  if (/^\d+$/.test(p)) {
    if (Number(p) > 65535) ctx.addIssue({ code: "custom", message: `invalid port ${p}` });
    return;
  }
  if (!/^[a-zA-Z0-9_.-]{1,128}$/.test(p))
    ctx.addIssue({ code: "custom", message: `invalid port ${JSON.stringify(p)}` });
});

export const protocolK8s = z.enum(["TCP", "UDP", "SCTP"]);

export const labelSelectorRequirement = obj({
  key: str,
  operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]),
  values: strList.optional(),
});

/** metav1.LabelSelector */
export const labelSelector = obj({
  matchLabels: strMap.optional(),
  matchExpressions: z.array(labelSelectorRequirement).optional(),
});

/** Fields whose full schema is Kubernetes' own and which tortie only stores (documented in docs/API.md). */
export const opaque = z.record(z.string(), z.unknown());

export const condition = obj({
  type: str,
  status: str,
  reason: str.optional(),
  message: str.optional(),
  lastTransitionTime: str.optional(),
  lastHeartbeatTime: str.optional(),
  lastProbeTime: str.optional(),
  lastUpdateTime: str.optional(),
  observedGeneration: int.optional(),
});
