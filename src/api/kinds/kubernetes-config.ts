import type { KindDef } from "../kind.ts";
import { bool, str, strMap } from "../schema-helpers.ts";
import { checkConfigKeys, MAX_CONFIG_BYTES, tooLong, valueBytes } from "./k8s-field-rules.ts";

/** Configuration data kinds: ConfigMap, and Secret (BGP passwords are read from Secrets). */

export const ConfigMap: KindDef = {
  group: "",
  version: "v1",
  kind: "ConfigMap",
  plural: "configmaps",
  shortNames: ["cm"],
  namespaced: true,
  nameRule: "dns1123-subdomain",
  body: () => ({ data: strMap.optional(), binaryData: strMap.optional(), immutable: bool.optional() }),
  precheck(o, out) {
    // ValidateConfigMap's size rule: at most 1 MiB of values (binaryData decoded).
    const size = valueBytes(mapOf(o.data), MAX_CONFIG_BYTES);
    if (size + valueBytes(mapOf(o.binaryData), MAX_CONFIG_BYTES - size, "base64") > MAX_CONFIG_BYTES)
      out.push({ path: "[]", message: tooLong(MAX_CONFIG_BYTES) });
  },
  check(o, out) {
    // ValidateConfigMap's key rules: keys of both maps, and no key in both.
    const data = o.data as Record<string, string> | undefined;
    const binaryData = o.binaryData as Record<string, string> | undefined;
    checkConfigKeys("data", data, { field: "binaryData", map: binaryData }, out);
    checkConfigKeys("binaryData", binaryData, { field: "data", map: data }, out);
  },
};

/** A map field as given, or undefined when it is not an object (the schema reports that). */
function mapOf(v: unknown): Record<string, unknown> | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** v1 Secret: BGP passwords (BGPPeer/BGPConfiguration secretKeyRef) read them. */
export const Secret: KindDef = {
  group: "",
  version: "v1",
  kind: "Secret",
  plural: "secrets",
  namespaced: true,
  nameRule: "dns1123-subdomain",
  body: () => ({
    data: strMap.optional(),
    stringData: strMap.optional(),
    type: str.optional(),
    immutable: bool.optional(),
  }),
  precheck(o, out) {
    // ValidateSecret's size rule on data as stored: stringData (which wins over data) plus the rest of data decoded.
    const stringData = mapOf(o.stringData);
    const size = valueBytes(stringData, MAX_CONFIG_BYTES);
    const data = mapOf(o.data);
    const rest =
      stringData && data
        ? Object.fromEntries(Object.entries(data).filter(([k]) => !(k in stringData)))
        : data;
    if (size + valueBytes(rest, MAX_CONFIG_BYTES - size, "base64") > MAX_CONFIG_BYTES)
      out.push({ path: "data", message: tooLong(MAX_CONFIG_BYTES) });
  },
  defaults(o) {
    // The API server folds stringData into data (base64) and never stores stringData.
    const stringData = o.stringData as Record<string, string> | undefined;
    if (stringData) {
      const data = { ...((o.data as Record<string, string> | undefined) ?? {}) };
      for (const [k, v] of Object.entries(stringData)) data[k] = Buffer.from(v, "utf8").toString("base64");
      o.data = data;
      delete o.stringData;
    }
    o.type ??= "Opaque";
  },
  check(o, out) {
    // defaults() has folded stringData into data by now (ValidateSecret sees the internal object, where it is).
    const data = o.data as Record<string, string> | undefined;
    checkConfigKeys("data", data, undefined, out);
    for (const [k, v] of Object.entries(data ?? {}))
      if (!BASE64.test(v)) out.push({ path: `data.${k}`, message: "illegal base64 data" });
  },
};
