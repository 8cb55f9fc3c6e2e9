import type * as z from "zod";
import type { FieldProblem } from "../lib/index.ts";
import type { NameRule } from "./meta.ts";
import type { ApiObject } from "./object.ts";

/** Everything tortie knows about one resource kind: identity, names users type, schema, defaults, checks. */
export interface KindDef {
  group: string;
  version: string;
  kind: string;
  plural: string;
  shortNames?: string[];
  namespaced: boolean;
  nameRule?: NameRule;
  /** Top-level fields besides apiVersion, kind and metadata; built when first asked for (see lazySchema). */
  body: () => z.ZodRawShape;
  /** Defaulting applied on every write, as the API server (or Calico's client) does. Mutates. */
  defaults?: (o: ApiObject) => void;
  /**
   * Cheap bounds checked before the schema decodes anything (a ConfigMap's 1 MiB), so an oversized object costs no
   * schema pass or copy. Must tolerate malformed input: the schema reports that afterwards.
   */
  precheck?: (o: ApiObject, out: FieldProblem[]) => void;
  /** Semantic checks beyond the schema; push one problem per broken rule. */
  check?: (o: ApiObject, out: FieldProblem[]) => void;
  /** Set when only tortie's controllers write this kind; the reason users see. */
  managedBy?: string;
  /** Names calicoctl accepts for this kind (resourcemgr registerResource). */
  calicoctlNames?: string[];
  /** Only these names are valid (e.g. IPAMConfiguration must be `default`). */
  fixedNames?: string[];
}

export function apiVersionOf(def: Pick<KindDef, "group" | "version">): string {
  return def.group ? `${def.group}/${def.version}` : def.version;
}
