import * as z from "zod";
import { parseCidr, parseCidrOrIp, parseIp } from "../net/index.ts";
import { tryParseSelector } from "../selector/index.ts";

/**
 * A schema built on first use, then kept. Building zod schemas is most of what loading the API would cost at
 * start-up, and most commands validate no object (or objects of one or two kinds), so the kinds build theirs,
 * and the shared field schemas below, only when asked.
 */
export function lazySchema<T>(build: () => T): () => T {
  let built: T | undefined;
  return () => {
    if (built === undefined) {
      ensureSchemaHelpers();
      built = build();
    }
    return built;
  };
}

/** Strict objects: like calicoctl's UnmarshalStrict and the API server's strict field validation. */
export const obj = <T extends z.ZodRawShape>(shape: T) => z.strictObject(shape);

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
/** Initialisms Go spells in capitals in Calico's field names (`VXLANPort`, `BPFKubeProxyHealthzPort`, `IPv4…`). */
const GO_INITIALISMS: Record<string, string> = {
  api: "API",
  bpf: "BPF",
  cidr: "CIDR",
  dns: "DNS",
  http: "HTTP",
  id: "ID",
  ip: "IP",
  ipip: "IPIP",
  ipv4: "IPv4",
  ipv6: "IPv6",
  mtu: "MTU",
  nat: "NAT",
  tcp: "TCP",
  udp: "UDP",
  url: "URL",
  vxlan: "VXLAN",
  xdp: "XDP",
};

/** The Go struct field behind a JSON field name: `healthPort` → `HealthPort`, `vxlanPort` → `VXLANPort`. */
function goField(path: readonly PropertyKey[]): string {
  const last = [...path].reverse().find((p) => typeof p === "string") as string | undefined;
  if (!last) return "";
  return (last.match(/^[a-z0-9]+|[A-Z][a-z0-9]*/g) ?? [last])
    .map((w) => GO_INITIALISMS[w.toLowerCase()] ?? w[0]!.toUpperCase() + w.slice(1))
    .join("");
}

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

/** The shared field schemas; see ensureSchemaHelpers. */
function buildSchemaHelpers() {
  const str = z.string();
  const bool = z.boolean();
  const int = z.number().int();
  const num = z.number();
  const strMap = z.record(z.string(), z.string());
  const strList = z.array(z.string());

  const ipString = z.string().refine((s) => parseIp(s) !== undefined, { message: "invalid IP address" });
  const cidrString = z.string().refine((s) => parseCidr(s) !== undefined, { message: "invalid CIDR" });
  /** Calico accepts a bare IP where it expects a network (`nets`, reservedCIDRs). */
  const netString = z
    .string()
    .refine((s) => parseCidrOrIp(s) !== undefined, { message: "invalid CIDR or IP address" });

  const selectorString = z.string().superRefine((s, ctx) => {
    const r = tryParseSelector(s);
    // zod 4 hands refinements no path; the issue carries the tag and validate.ts names the field.
    if (r.error)
      ctx.addIssue({ code: "custom", message: r.error, params: { calicoTag: "selector", value: s } });
  });

  const portNumber = int.min(1).max(65535);
  /** Kubernetes IntOrString for ports: a number, or an IANA service name. */
  const intOrString = z.union([int, z.string()]);

  /** Calico numorstring.Port: a number, "min:max", or a named port. */
  const calicoPort = z.union([int, z.string()]).superRefine((p, ctx) => {
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

  const protocolK8s = z.enum(["TCP", "UDP", "SCTP"]);

  const labelSelectorRequirement = obj({
    key: str,
    operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]),
    values: strList.optional(),
  });

  /** metav1.LabelSelector */
  const labelSelector = obj({
    matchLabels: strMap.optional(),
    matchExpressions: z.array(labelSelectorRequirement).optional(),
  });

  /** Fields whose full schema is Kubernetes' own and which tortie only stores (documented in docs/API.md). */
  const opaque = z.record(z.string(), z.unknown());

  const condition = obj({
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

  return {
    str,
    bool,
    int,
    num,
    strMap,
    strList,
    ipString,
    cidrString,
    netString,
    selectorString,
    portNumber,
    intOrString,
    calicoPort,
    protocolK8s,
    labelSelectorRequirement,
    labelSelector,
    opaque,
    condition,
  };
}

type SchemaHelpers = ReturnType<typeof buildSchemaHelpers>;
export let str: SchemaHelpers["str"];
export let bool: SchemaHelpers["bool"];
export let int: SchemaHelpers["int"];
export let num: SchemaHelpers["num"];
export let strMap: SchemaHelpers["strMap"];
export let strList: SchemaHelpers["strList"];
export let ipString: SchemaHelpers["ipString"];
export let cidrString: SchemaHelpers["cidrString"];
export let netString: SchemaHelpers["netString"];
export let selectorString: SchemaHelpers["selectorString"];
export let portNumber: SchemaHelpers["portNumber"];
export let intOrString: SchemaHelpers["intOrString"];
export let calicoPort: SchemaHelpers["calicoPort"];
export let protocolK8s: SchemaHelpers["protocolK8s"];
export let labelSelectorRequirement: SchemaHelpers["labelSelectorRequirement"];
export let labelSelector: SchemaHelpers["labelSelector"];
export let opaque: SchemaHelpers["opaque"];
export let condition: SchemaHelpers["condition"];
let schemaHelpersBuilt = false;

/**
 * Assigns the shared field schemas (str, int, selectorString, ...) the first time any schema is built. The kinds
 * read these bindings only inside lazySchema builders and their `body()`, which run after this.
 */
export function ensureSchemaHelpers(): void {
  if (schemaHelpersBuilt) return;
  schemaHelpersBuilt = true;
  ({
    str,
    bool,
    int,
    num,
    strMap,
    strList,
    ipString,
    cidrString,
    netString,
    selectorString,
    portNumber,
    intOrString,
    calicoPort,
    protocolK8s,
    labelSelectorRequirement,
    labelSelector,
    opaque,
    condition,
  } = buildSchemaHelpers());
}
