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

/**
 * libcalico-go's validation error text (errors.ErrorValidation): `error with field <GoField> = '<value>' (<reason>)`.
 * A failed validator tag reads "Reason: failed to validate Field: <GoField> because of Tag: <tag> ".
 */
export function calicoFieldError(field: string, value: unknown, reason: string): string {
  const v = typeof value === "string" || typeof value === "number" ? String(value) : JSON.stringify(value);
  return `error with field ${field} = '${v}' (${reason})`;
}

export function calicoTagError(field: string, value: unknown, tag: string): string {
  return calicoFieldError(field, value, `Reason: failed to validate Field: ${field} because of Tag: ${tag} `);
}

/** The Go struct field a JSON path ends in: `spec.ingress[0].source.notSelector` → `NotSelector`. */
function goField(path: readonly PropertyKey[]): string {
  const last = [...path].reverse().find((p) => typeof p === "string") as string | undefined;
  return last ? last[0]!.toUpperCase() + last.slice(1) : "";
}

export const selectorString = z.string().superRefine((s, ctx) => {
  const r = tryParseSelector(s);
  // zod 4 hands refinements no path; the issue carries the tag and validate.ts names the field.
  if (r.error)
    ctx.addIssue({ code: "custom", message: r.error, params: { calicoTag: "selector", value: s } });
});

export const portNumber = int.min(1).max(65535);
/** Kubernetes IntOrString for ports: a number, or an IANA service name. */
export const intOrString = z.union([int, z.string()]);

/** Calico numorstring.Port: a number, "min:max", or a named port. */
export const calicoPort = z.union([int, z.string()]).superRefine((p, ctx) => {
  if (typeof p === "number") {
    if (p < 1 || p > 65535)
      ctx.addIssue({
        code: "custom",
        message: "port range invalid, port number must be between 1 and 65535",
        params: { calicoReason: "port range invalid, port number must be between 1 and 65535", value: p },
      });
    return;
  }
  const range = /^(\d+):(\d+)$/.exec(p);
  if (range) {
    const [lo, hi] = [Number(range[1]), Number(range[2])];
    if (lo > 65535 || hi > 65535 || lo > hi || lo < 1)
      ctx.addIssue({
        code: "custom",
        message: "port range invalid",
        params: { calicoReason: "port range invalid", value: p },
      });
    return;
  }
  if (/^\d+$/.test(p)) {
    if (Number(p) > 65535 || Number(p) < 1)
      ctx.addIssue({
        code: "custom",
        message: "port range invalid, port number must be between 1 and 65535",
        params: { calicoReason: "port range invalid, port number must be between 1 and 65535", value: p },
      });
    return;
  }
  if (!/^[a-zA-Z0-9_.-]{1,128}$/.test(p))
    ctx.addIssue({ code: "custom", message: "invalid port", params: { calicoTag: "portName", value: p } });
});

/** Renders a zod issue raised by one of the Calico field helpers above in libcalico-go's words. */
export function calicoIssueMessage(issue: {
  path: readonly PropertyKey[];
  params?: Record<string, unknown>;
}): string | undefined {
  const params = issue.params;
  if (!params) return undefined;
  // Calico's port validator reports every port problem on the field "Port".
  const field = typeof issue.path[issue.path.length - 1] === "number" ? "Port" : goField(issue.path);
  if (typeof params.calicoTag === "string") return calicoTagError(field, params.value, params.calicoTag);
  if (typeof params.calicoReason === "string")
    return calicoFieldError(field, params.value, params.calicoReason);
  return undefined;
}

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
