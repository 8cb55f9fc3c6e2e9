import type { KindDef } from "../kind.ts";
import { bool, str, strMap } from "../schema-helpers.ts";

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
};

const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
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
    // defaults() has folded stringData into data by now.
    for (const [k, v] of Object.entries((o.data as Record<string, string> | undefined) ?? {})) {
      if (!SECRET_KEY.test(k))
        out.push({
          path: `data.${k}`,
          message: `a valid config key must consist of alphanumeric characters, '-', '_' or '.'`,
        });
      if (!BASE64.test(v)) out.push({ path: `data.${k}`, message: "illegal base64 data" });
    }
  },
};
