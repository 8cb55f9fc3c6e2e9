import * as z from "zod";
import type { FieldProblem } from "../lib/index.ts";
import { int, lazySchema, obj, opaque, str, strList, strMap } from "./schema-helpers.ts";

export const objectMetaSchema = lazySchema(() =>
  obj({
    name: str.optional(),
    generateName: str.optional(),
    namespace: str.optional(),
    uid: str.optional(),
    resourceVersion: str.optional(),
    generation: int.optional(),
    creationTimestamp: z.union([str, z.null()]).optional(),
    deletionTimestamp: str.optional(),
    deletionGracePeriodSeconds: int.optional(),
    labels: strMap.optional(),
    annotations: strMap.optional(),
    ownerReferences: z.array(opaque).optional(),
    finalizers: strList.optional(),
    managedFields: z.array(opaque).optional(),
    selfLink: str.optional(),
  }),
);

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

export function isDns1123Label(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}

export function isDns1123Subdomain(s: string): boolean {
  return s.length <= 253 && DNS1123_SUBDOMAIN.test(s);
}

/** Label keys are `[prefix/]name` (prefix a DNS subdomain, name ≤63 qualified); values ≤63, may be empty. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf("/");
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (prefix !== undefined && !isDns1123Subdomain(prefix))
    return `invalid label key prefix ${JSON.stringify(prefix)}`;
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name))
    return `invalid label key ${JSON.stringify(key)}: name part must be 63 characters or less, alphanumeric, '-', '_' or '.', starting and ending with an alphanumeric character`;
  return undefined;
}

export function labelValueProblem(value: string): string | undefined {
  if (value === "") return undefined;
  if (value.length > 63 || !QUALIFIED_NAME.test(value))
    return `invalid label value ${JSON.stringify(value)}: must be 63 characters or less, alphanumeric, '-', '_' or '.', starting and ending with an alphanumeric character`;
  return undefined;
}

export function checkLabels(
  labels: Record<string, string> | undefined,
  path: string,
  out: FieldProblem[],
): void {
  for (const [k, v] of Object.entries(labels ?? {})) {
    const kp = labelKeyProblem(k);
    if (kp) out.push({ path, message: kp });
    const vp = labelValueProblem(v);
    if (vp) out.push({ path: `${path}.${k}`, message: vp });
  }
}

export type NameRule = "dns1123-subdomain" | "dns1123-label" | "any";

export function checkName(name: string | undefined, rule: NameRule, out: FieldProblem[]): void {
  if (!name) {
    out.push({ path: "metadata.name", message: "name is required" });
    return;
  }
  if (rule === "dns1123-label" && !isDns1123Label(name))
    out.push({
      path: "metadata.name",
      message: `invalid name ${JSON.stringify(name)}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character`,
    });
  if (rule === "dns1123-subdomain" && !isDns1123Subdomain(name))
    out.push({
      path: "metadata.name",
      message: `invalid name ${JSON.stringify(name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
    });
}
