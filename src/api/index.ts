export { type ManifestEntry, parseManifests, sortKeysDeep, toJson, toYaml } from "./codec.ts";
export { apiVersionOf, type KindDef } from "./kind.ts";
export { ipv4MappedProblem, poolComparable } from "./kinds/ipv4-mapped.ts";
export { checkLabels, isDns1123Label, labelKeyProblem, labelValueProblem } from "./meta.ts";
export { immutableMetaProblems } from "./meta-update.ts";
export { type ApiObject, type ObjectMeta, objectName } from "./object.ts";
export { jsonPatch, mergeKeyFor, mergePatch, strategicMergePatch, threeWayMerge } from "./patch.ts";
export {
  allKinds,
  findKind,
  kindsNamed,
  resolveCalicoctlResource,
  resolveKubectlResource,
} from "./registry.ts";
export { keyFor, prefixFor } from "./registry-key.ts";
export { describeObject, formatPath, kindJsonSchema, prepareObject } from "./validate.ts";
