import type { Hook, MatchContext, Packet, TraversalResult } from "../netfilter/index.ts";
import type { DataType, Range } from "./datatypes.ts";

/** What ends a rule: a verdict, or a terminal statement (reject, NAT). */
export type Verdict =
  | { kind: "accept" | "drop" | "return" | "continue" }
  | { kind: "jump" | "goto"; chain: string }
  | { kind: "reject"; with: string }
  | { kind: "nat"; nat: NonNullable<TraversalResult["nat"]> };

export interface SetElement {
  key: Range[];
  comment?: string;
  verdict?: Verdict;
  /** Milliseconds; `expires` is the virtual-clock time the element goes. */
  timeout?: number;
  expires?: number;
}

export interface NftSet {
  name: string;
  map: boolean;
  types: DataType[];
  flags: Set<string>;
  timeout?: number;
  size?: number;
  comment?: string;
  handle: number;
  /** Elements by their key (`lo,lo,…`), for the O(1) lookup of sets without intervals. */
  exact: Map<string, SetElement>;
  /** Elements with a range or prefix (sets with `flags interval`, one datatype). */
  intervals: SetElement[];
}

export interface BaseHook {
  type: "filter" | "nat" | "route";
  hook: Hook;
  priority: number;
  policy: "accept" | "drop";
}

/** Per-packet evaluation environment of one table. */
export interface EvalEnv {
  sets: Map<string, NftSet>;
  now: number;
}

/** One step of a rule: true continues, false means the rule does not match, a verdict ends the rule. */
export type Step = (p: Packet, ctx: MatchContext, env: EvalEnv) => boolean | Verdict;

export interface NftRule {
  steps: Step[];
  /** The rule as `nft list` prints it (without counter values, which are appended live). */
  parts: string[];
  /** Index into `parts` of the counter statement, and its values, if the rule has one. */
  counterAt: number;
  counter?: { packets: number; bytes: number };
  handle: number;
  /** Sets and chains the rule names (for delete checks). */
  refs: { sets: string[]; chains: string[] };
}

export interface NftChain {
  name: string;
  base?: BaseHook;
  comment?: string;
  handle: number;
  rules: NftRule[];
}

export interface NftTable {
  family: "ip";
  name: string;
  comment?: string;
  handle: number;
  chains: Map<string, NftChain>;
  sets: Map<string, NftSet>;
  nextHandle: number;
}

/**
 * A set element's lookup key: each value as two UTF-16 code units. Building it costs no number formatting
 * (addresses above 2^31 are heap numbers in V8, and turning those into decimal text dominated a lookup).
 */
export function keyString(key: Range[]): string {
  let s = "";
  for (const r of key) s += String.fromCharCode(r[0] >>> 16, r[0] & 0xffff);
  return s;
}

/** The same key for a packet's values. */
export function valuesKey(values: number[]): string {
  let s = "";
  for (const v of values) s += String.fromCharCode(v >>> 16, v & 0xffff);
  return s;
}
