import * as z from "zod";
import {
  bool,
  int,
  intOrString,
  ipString,
  lazySchema,
  obj,
  opaque,
  str,
  strList,
} from "../schema-helpers.ts";
import { FELIX_FIELDS, FELIX_PORT_FIELDS } from "./felix-config-fields.ts";

/**
 * A TCP/UDP port setting, `min` to 65535, refused in libcalico-go's validator words for the tag it breaks: `lte` above
 * 65535, `minTag` below `min` (debugPort's `gte=0`, wireguardListeningPort's `gt=0`, bpfKubeProxyHealthzPort's
 * `gte=1`), e.g. "error with field DebugPort = '70000' (Reason: failed to validate Field: DebugPort because of Tag:
 * lte )". The port settings upstream leaves untagged get the same words (felix-config-fields.ts).
 */
export const calicoPortSetting = (min = 0, minTag: "gt" | "gte" = "gte") =>
  int.superRefine((n, ctx) => {
    if (n < min || n > 65535)
      ctx.addIssue({
        code: "custom",
        message: `must be between ${min} and 65535`,
        params: { calicoTag: n > 65535 ? "lte" : minTag, value: n },
      });
  });

/**
 * An integer inside libcalico-go's bounds for one field, e.g. wireguardRoutingRulePriority's `gt=0,lt=32766`:
 * "error with field WireguardRoutingRulePriority = '32766' (Reason: failed to validate Field:
 * WireguardRoutingRulePriority because of Tag: lt )".
 */
const calicoBoundedInt = (low: { gt: number } | { gte: number }, high: { lt: number } | { lte: number }) =>
  int.superRefine((n, ctx) => {
    const lowTag = "gt" in low ? (n <= low.gt ? "gt" : undefined) : n < low.gte ? "gte" : undefined;
    const highTag = "lt" in high ? (n >= high.lt ? "lt" : undefined) : n > high.lte ? "lte" : undefined;
    const tag = lowTag ?? highTag;
    if (tag) ctx.addIssue({ code: "custom", message: `out of range`, params: { calicoTag: tag, value: n } });
  });

/** A string one of `values` (go-playground's `oneof` tag), refused as "… because of Tag: oneof ". */
const calicoOneOf = (...values: string[]) =>
  str.superRefine((s, ctx) => {
    if (!values.includes(s))
      ctx.addIssue({ code: "custom", message: "not allowed", params: { calicoTag: "oneof", value: s } });
  });

/** libcalico-go's `interface` validator: `*` or 1 to 15 of `[a-zA-Z0-9_.-]` (a Linux interface name). */
const calicoInterfaceName = () =>
  str.superRefine((s, ctx) => {
    if (s !== "*" && !/^[a-zA-Z0-9_.-]{1,15}$/.test(s))
      ctx.addIssue({
        code: "custom",
        message: "invalid interface",
        params: { calicoTag: "interface", value: s },
      });
  });

/** ProtoPort: Felix's failsafe ports (port is a uint16). */
const protoPort = lazySchema(() =>
  obj({ protocol: str.optional(), port: calicoPortSetting(), net: str.optional() }),
);

/** The settings tortie acts on, typed; see docs/API.md. */
function typedSettings(): z.ZodRawShape {
  return {
    wireguardEnabled: bool.optional(),
    wireguardEnabledV6: bool.optional(),
    wireguardInterfaceName: calicoInterfaceName().optional(),
    wireguardInterfaceNameV6: calicoInterfaceName().optional(),
    wireguardListeningPort: calicoPortSetting(1, "gt").optional(),
    wireguardListeningPortV6: calicoPortSetting(1, "gt").optional(),
    bpfKubeProxyHealthzPort: calicoPortSetting(1).optional(),
    wireguardMTU: int.optional(),
    wireguardRoutingRulePriority: calicoBoundedInt({ gt: 0 }, { lt: 32766 }).optional(),
    wireguardHostEncryptionEnabled: bool.optional(),
    failsafeInboundHostPorts: z.array(protoPort()).optional(),
    failsafeOutboundHostPorts: z.array(protoPort()).optional(),
    defaultEndpointToHostAction: z.enum(["Drop", "Accept", "Return"]).optional(),
    bpfEnabled: bool.optional(),
    // The CRD's pattern `^(?i)(Tunnel|DSR)?$` (Felix lower-cases it).
    bpfExternalServiceMode: z
      .string()
      .regex(/^(tunnel|dsr)?$/i, { message: "should match '^(?i)(Tunnel|DSR)?$'" })
      .optional(),
    bpfConnectTimeLoadBalancing: calicoOneOf("TCP", "Enabled", "Disabled").optional(),
    programClusterRoutes: z.enum(["Enabled", "Disabled", "EnabledIPIPOnly", "EnabledNoEncapOnly"]).optional(),
    bpfKubeProxyIptablesCleanupEnabled: bool.optional(),
    logSeverityScreen: str.optional(),
    reportingInterval: str.optional(),
    vxlanEnabled: bool.optional(),
    vxlanVNI: int.optional(),
    ipipEnabled: bool.optional(),
    natOutgoingAddress: ipString.optional(),
    interfacePrefix: str.optional(),
    routeTableRange: opaque.optional(),
  };
}

/**
 * FelixConfiguration.spec, strict: every field Calico knows (felix-config-fields.ts) with its JSON type, the
 * settings tortie acts on typed more closely, and an unknown field refused as calicoctl's strict decoding does.
 */
export const felixConfigurationSpec = lazySchema(() => {
  const byType = {
    bool: bool,
    int: int,
    string: str,
    strings: strList,
    array: z.array(z.unknown()),
    object: opaque,
    intOrString: intOrString,
  } as const;
  const shape: Record<string, z.ZodType> = {};
  for (const [type, names] of Object.entries(FELIX_FIELDS) as [keyof typeof byType, readonly string[]][])
    for (const name of names) shape[name] = byType[type].optional();
  for (const name of FELIX_PORT_FIELDS) shape[name] = calicoPortSetting().optional();
  return obj({ ...shape, ...typedSettings() });
});
