import type { ApiObject } from "../../api/index.ts";
import { sha256 } from "../../lib/index.ts";
import { parseCidr } from "../../net/index.ts";
import { asNumberOf } from "./go-values.ts";

/**
 * BGPFilter → BIRD, as confd renders it: the filter functions bird.cfg defines (template_funcs.go
 * BGPFilterBIRDFuncs) and the import/export filter blocks of each peer (bgp_processor.go buildImportFilter /
 * buildExportFilter). A filter confd cannot render makes the whole file fail, as it does upstream.
 */

/** 2^31-1: priorities and bgp_local_pref convert with x = 2^31-1 - y. */
export const BIRD_INT_MAX = 2147483647;
/** The preference that lets an imported higher-priority route override a local workload route. */
export const BIRD_OVERRIDE_PREFERENCE = 200;
const MAX_BIRD_SYM_LEN = 64;

export class BgpFilterError extends Error {}

/** TruncateAndHashName: names longer than maxLen become a prefix, "_" and 16 hex digits of their SHA-256. */
export function truncateAndHashName(name: string, maxLen: number): string {
  if (name.length <= maxLen) return name;
  const hashStrSize = 17;
  if (maxLen <= hashStrSize)
    throw new BgpFilterError(
      `max truncated string length must be greater than the minimum size of ${hashStrSize}`,
    );
  const hex = [...sha256(name)]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("")
    .toUpperCase();
  return `${name.slice(0, maxLen - hashStrSize)}_${hex.slice(0, 16)}`;
}

/** The name part of 'bgp_<name>_importFilterV4' fitted into BIRD's 64-character symbols. */
export function filterSymbolName(name: string): string {
  return truncateAndHashName(name, MAX_BIRD_SYM_LEN - "bgp__importFilterV4".length);
}

function functionName(filterName: string, direction: "import" | "export", version: 4 | 6): string {
  return `'bgp_${filterSymbolName(filterName)}_${direction}FilterV${version}'`;
}

// biome-ignore lint/suspicious/noExplicitAny: BGPFilter rules are plain JSON
type Rule = Record<string, any>;

const OPERATORS: Record<string, string> = { Equal: "=", NotEqual: "!=", In: "~", NotIn: "!~" };

function matchPrefixLength(cidr: string, min: unknown, max: unknown): string {
  const c = parseCidr(cidr);
  if (!c)
    throw new BgpFilterError(`unexpected error when parsing cidr ${cidr}: invalid CIDR address: ${cidr}`);
  let lo = c.prefix;
  let hi = c.family === 4 ? 32 : 128;
  if (typeof min === "number") lo = Math.max(lo, min);
  if (typeof max === "number") hi = Math.min(hi, max);
  return `[ ${cidr}{${lo},${hi}} ]`;
}

function communityParts(value: string, what: string): string {
  const parts = value.split(":");
  if (parts.length === 2) return `(${parts[0]}, ${parts[1]})`;
  if (parts.length === 3) return `(${parts[0]}, ${parts[1]}, ${parts[2]})`;
  throw new BgpFilterError(`invalid community value format in BGPFilter${what}: ${value}`);
}

function operationStatements(ops: Rule[]): string[] {
  const out: string[] = [];
  for (const op of ops) {
    if (op.addCommunity) {
      const v = op.addCommunity.value;
      if (typeof v !== "string") throw new BgpFilterError("BGPFilter AddCommunity operation has nil value");
      const parts = v.split(":");
      const c = communityParts(v, " operation");
      out.push(parts.length === 2 ? `bgp_community.add(${c});` : `bgp_large_community.add(${c});`);
    } else if (op.prependASPath) {
      const prefix: unknown[] = Array.isArray(op.prependASPath.prefix) ? op.prependASPath.prefix : [];
      for (let i = prefix.length - 1; i >= 0; i--) out.push(`bgp_path.prepend(${asNumberOf(prefix[i])});`);
    } else if (op.setPriority) {
      const v = op.setPriority.value;
      if (typeof v !== "number") throw new BgpFilterError("BGPFilter SetPriority operation has nil value");
      out.push(`bgp_local_pref = ${BIRD_INT_MAX - v};`);
    } else throw new BgpFilterError("BGPFilter operation has no field set");
  }
  return out;
}

/** filterStatement: one rule as a BIRD statement. */
function ruleStatement(rule: Rule): string {
  const action = rule.action;
  if (action !== "Accept" && action !== "Reject")
    throw new BgpFilterError(`unexpected action found in BGPFilter: ${action ?? ""}`);
  const actionStatement = `${action.toLowerCase()};`;
  const conditions: string[] = [];
  const cidr = typeof rule.cidr === "string" ? rule.cidr : "";
  if (cidr !== "") {
    const operator = typeof rule.matchOperator === "string" ? rule.matchOperator : "";
    if (operator === "") throw new BgpFilterError("operator not included in BGPFilter");
    const op = OPERATORS[operator];
    if (!op) throw new BgpFilterError(`unexpected operator found in BGPFilter: ${operator}`);
    const pl = rule.prefixLength;
    const target = pl && typeof pl === "object" ? matchPrefixLength(cidr, pl.min, pl.max) : cidr;
    conditions.push(`(net ${op} ${target})`);
  }
  if (typeof rule.source === "string" && rule.source !== "") {
    if (rule.source !== "RemotePeers")
      throw new BgpFilterError(`unexpected source found in BGPFilter: ${rule.source}`);
    conditions.push("((defined(source))&&(source ~ [ RTS_BGP ]))");
  }
  if (typeof rule.interface === "string" && rule.interface !== "")
    conditions.push(`((defined(ifname))&&(ifname ~ "${rule.interface}"))`);
  if (rule.communities !== undefined && rule.communities !== null) {
    const values: unknown[] = Array.isArray(rule.communities.values) ? rule.communities.values : [];
    if (values.length === 0) throw new BgpFilterError("empty communities in BGPFilter");
    const v = String(values[0]);
    const parts = v.split(":");
    const c = communityParts(v, "");
    conditions.push(parts.length === 2 ? `(${c} ~ bgp_community)` : `(${c} ~ bgp_large_community)`);
  }
  if (Array.isArray(rule.asPathPrefix) && rule.asPathPrefix.length > 0)
    conditions.push(`(bgp_path ~ [= ${rule.asPathPrefix.map((a: unknown) => asNumberOf(a)).join(" ")} * =])`);
  if (typeof rule.priority === "number")
    conditions.push(`(defined(bgp_local_pref)&&(bgp_local_pref = ${BIRD_INT_MAX - rule.priority}))`);
  const body = [
    ...(Array.isArray(rule.operations) && rule.operations.length > 0
      ? operationStatements(rule.operations)
      : []),
    actionStatement,
  ].join(" ");
  return conditions.length > 0 ? `if (${conditions.join("&&")}) then { ${body} }` : body;
}

function rulesOf(filter: ApiObject, direction: "import" | "export", version: 4 | 6): Rule[] {
  const list = filter.spec?.[`${direction}V${version}`];
  return Array.isArray(list) ? (list as Rule[]) : [];
}

const hasPeerType = (rules: Rule[]) => rules.some((r) => typeof r.peerType === "string" && r.peerType !== "");

/**
 * BGPFilterBIRDFuncs: the BIRD functions of every BGPFilter with rules for this family, filters in name order,
 * one line per element (the template prints each on its own line).
 */
export function bgpFilterFunctions(filters: Iterable<ApiObject>, version: 4 | 6): string[] {
  const lines: string[] = [];
  const sorted = [...filters].sort((a, b) => {
    const x = a.metadata.name ?? "";
    const y = b.metadata.name ?? "";
    return x < y ? -1 : x > y ? 1 : 0;
  });
  for (const filter of sorted) {
    const name = filter.metadata.name ?? "";
    const directions = (["import", "export"] as const)
      .map((d) => ({ d, rules: rulesOf(filter, d, version) }))
      .filter((x) => x.rules.length > 0);
    if (directions.length === 0) continue;
    lines.push(`# v${version} BGPFilter ${name}`);
    for (const { d, rules } of directions) {
      const fn = functionName(name, d, version);
      lines.push(hasPeerType(rules) ? `function ${fn}(bool is_same_as) {` : `function ${fn}() {`);
      for (const rule of rules) {
        let s = ruleStatement(rule);
        if (rule.peerType === "iBGP") s = `if (is_same_as) then { ${s} }`;
        else if (rule.peerType === "eBGP") s = `if (!is_same_as) then { ${s} }`;
        lines.push(`  ${s}`);
      }
      lines.push("}");
    }
  }
  if (lines.length === 0) lines.push(`# No v${version} BGPFilters configured`);
  return lines;
}

/** Calls of the peer's BGPFilter functions for one direction (filters that exist and have rules for it). */
function filterCalls(
  filters: ReadonlyMap<string, ApiObject>,
  names: readonly string[],
  direction: "import" | "export",
  version: 4 | 6,
  sameAS: boolean,
): string[] {
  const out: string[] = [];
  for (const name of names) {
    const f = filters.get(name);
    if (!f) continue;
    const rules = rulesOf(f, direction, version);
    if (rules.length === 0) continue;
    const fn = functionName(name, direction, version);
    out.push(hasPeerType(rules) ? `${fn}(${sameAS});` : `${fn}();`);
  }
  return out;
}

/**
 * buildImportFilter and buildExportFilter: the bodies of a peer's `import filter { … }` and `export filter { … }`,
 * lines joined as the template indents them.
 */
export function peerFilterTexts(
  filters: ReadonlyMap<string, ApiObject>,
  names: readonly string[],
  peerAS: string,
  nodeAS: string,
  version: 4 | 6,
  normalRoutePriority: number,
): { importFilter: string; exportFilter: string } {
  const sameAS = peerAS === nodeAS;
  const importFilter = [
    ...filterCalls(filters, names, "import", version, sameAS),
    `if (defined(bgp_local_pref)&&(bgp_local_pref > ${BIRD_INT_MAX - normalRoutePriority})) then`,
    `  preference = ${BIRD_OVERRIDE_PREFERENCE};`,
    "accept;",
  ];
  const exportFilter = [
    "if (defined(source) && source = RTS_BGP && defined(bgp_local_pref)) then {",
    `  krt_metric = ${BIRD_INT_MAX} - bgp_local_pref;`,
    "} else {",
    `  if (!defined(krt_metric)) then { krt_metric = ${normalRoutePriority}; }`,
    `  bgp_local_pref = ${BIRD_INT_MAX} - krt_metric;`,
    "}",
    ...filterCalls(filters, names, "export", version, sameAS),
    `calico_export_to_bgp_peers(${sameAS});`,
    "reject;",
  ];
  return { importFilter: importFilter.join("\n    "), exportFilter: exportFilter.join("\n    ") };
}
