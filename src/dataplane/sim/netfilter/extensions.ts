import { type Ipv4Prefix, parseIpv4Prefix } from "../ipv4.ts";
import { ICMP, type MatchContext, type Packet, SCTP, TCP, UDP } from "./packet.ts";

/** One option as written: `[!] --flag arg...`. */
export interface RuleOption {
  invert: boolean;
  flag: string;
  args: string[];
}

/** A match module after parsing: how it tests a packet and how iptables prints it. */
export interface CompiledMatch {
  test(packet: Packet, ctx: MatchContext): boolean;
  /** `iptables -L` text, without the leading space. */
  list: string;
  /** `iptables -S` / `iptables-save` text, starting with `-m NAME`. */
  save: string;
}

export interface MatchExtension {
  /** Option flags this module takes, with how many arguments each has. */
  options: Record<string, number>;
  compile(options: RuleOption[], protocol: number | undefined): CompiledMatch;
}

export class RuleSyntaxError extends Error {}

interface PortRange {
  min: number;
  max: number;
}

function parsePort(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535)
    throw new RuleSyntaxError(`invalid port/service \`${text}' specified`);
  return Number(text);
}

function parsePortRange(text: string): PortRange {
  const colon = text.indexOf(":");
  if (colon < 0) {
    const p = parsePort(text);
    return { min: p, max: p };
  }
  const min = colon === 0 ? 0 : parsePort(text.slice(0, colon));
  const max = colon === text.length - 1 ? 65535 : parsePort(text.slice(colon + 1));
  if (min > max) throw new RuleSyntaxError(`invalid portrange (min > max) \`${text}'`);
  return { min, max };
}

function rangeText(r: PortRange, sep = ":"): string {
  return r.min === r.max ? `${r.min}` : `${r.min}${sep}${r.max}`;
}

function optionOf(options: RuleOption[], ...flags: string[]): RuleOption | undefined {
  return options.find((o) => flags.includes(o.flag));
}

function inRange(r: PortRange, port: number): boolean {
  return port >= r.min && port <= r.max;
}

/** tcp, udp and sctp: `--sport`/`--dport` (ranges, `!`); tcp also `--syn` and `--tcp-flags`. */
function portMatch(name: "tcp" | "udp" | "sctp", proto: number): MatchExtension {
  const options: Record<string, number> = {
    "--sport": 1,
    "--source-port": 1,
    "--dport": 1,
    "--destination-port": 1,
  };
  if (name === "tcp") Object.assign(options, { "--syn": 0, "--tcp-flags": 2 });
  return {
    options,
    compile(opts, protocol) {
      if (protocol !== proto) throw new RuleSyntaxError(`"-m ${name}" requires "-p ${name}"`);
      const s = optionOf(opts, "--sport", "--source-port");
      const d = optionOf(opts, "--dport", "--destination-port");
      const sp = s && nftPortRange(parsePortRange(s.args[0]!), s.invert);
      const dp = d && nftPortRange(parsePortRange(d.args[0]!), d.invert);
      const sr = sp?.range;
      const dr = dp?.range;
      let flags: { mask: number; comp: number; invert: boolean } | undefined;
      const syn = optionOf(opts, "--syn");
      const tf = optionOf(opts, "--tcp-flags");
      if (syn) flags = { mask: 0x17, comp: 0x02, invert: syn.invert };
      else if (tf)
        flags = { mask: tcpFlagBits(tf.args[0]!), comp: tcpFlagBits(tf.args[1]!), invert: tf.invert };
      const listParts: string[] = [name];
      const saveParts = [`-m ${name}`];
      if (sr && sp) {
        listParts.push(`${sr.min === sr.max ? "spt" : "spts"}:${sp.invert ? "!" : ""}${rangeText(sr)}`);
        saveParts.push(`${sp.invert ? "! " : ""}--sport ${rangeText(sr)}`);
      }
      if (dr && dp) {
        listParts.push(`${dr.min === dr.max ? "dpt" : "dpts"}:${dp.invert ? "!" : ""}${rangeText(dr)}`);
        saveParts.push(`${dp.invert ? "! " : ""}--dport ${rangeText(dr)}`);
      }
      if (flags) {
        listParts.push(`flags:${flags.invert ? "!" : ""}0x${hex2(flags.mask)}/0x${hex2(flags.comp)}`);
        saveParts.push(
          `${flags.invert ? "! " : ""}--tcp-flags ${tcpFlagNames(flags.mask)} ${tcpFlagNames(flags.comp)}`,
        );
      }
      const sInv = sp?.invert === true;
      const dInv = dp?.invert === true;
      const f = flags;
      return {
        list: listParts.join(" "),
        save: saveParts.join(" "),
        test(p) {
          if (sr && inRange(sr, p.sport) === sInv) return false;
          if (dr && inRange(dr, p.dport) === dInv) return false;
          if (f && ((p.tcpFlags & f.mask) === f.comp) === f.invert) return false;
          return true;
        },
      };
    },
  };
}

/**
 * A port range as iptables-nft stores it and reads it back (1.8.9 prints that): `! 0:N` is the range above N,
 * and `0:65535` is no condition. Both mean what was written.
 */
function nftPortRange(range: PortRange, invert: boolean): { range?: PortRange; invert: boolean } {
  if (invert && range.min === 0 && range.max < 65535)
    return { range: { min: range.max + 1, max: 65535 }, invert: false };
  if (!invert && range.min === 0 && range.max === 65535) return { invert: false };
  return { range, invert };
}

const TCP_FLAG_BITS: [string, number][] = [
  ["FIN", 1],
  ["SYN", 2],
  ["RST", 4],
  ["PSH", 8],
  ["ACK", 16],
  ["URG", 32],
];

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

function tcpFlagBits(text: string): number {
  if (text === "ALL") return 0x3f;
  if (text === "NONE") return 0;
  let bits = 0;
  for (const name of text.split(",")) {
    const bit = TCP_FLAG_BITS.find(([n]) => n === name);
    if (!bit) throw new RuleSyntaxError(`Unknown TCP flag \`${name}'`);
    bits |= bit[1];
  }
  return bits;
}

function tcpFlagNames(bits: number): string {
  if (bits === 0) return "NONE";
  return TCP_FLAG_BITS.filter(([, b]) => bits & b)
    .map(([n]) => n)
    .join(",");
}

const ICMP_TYPES: Record<string, [number, number | undefined]> = {
  any: [255, undefined],
  "echo-reply": [0, undefined],
  pong: [0, undefined],
  "destination-unreachable": [3, undefined],
  "network-unreachable": [3, 0],
  "host-unreachable": [3, 1],
  "protocol-unreachable": [3, 2],
  "port-unreachable": [3, 3],
  "fragmentation-needed": [3, 4],
  "source-quench": [4, undefined],
  redirect: [5, undefined],
  "echo-request": [8, undefined],
  ping: [8, undefined],
  "time-exceeded": [11, undefined],
  "parameter-problem": [12, undefined],
  "timestamp-request": [13, undefined],
  "timestamp-reply": [14, undefined],
};

const icmp: MatchExtension = {
  options: { "--icmp-type": 1 },
  compile(opts, protocol) {
    if (protocol !== ICMP) throw new RuleSyntaxError(`"-m icmp" requires "-p icmp"`);
    const o = optionOf(opts, "--icmp-type");
    if (!o) return { list: "icmp any", save: "-m icmp --icmp-type any", test: () => true };
    const text = o.args[0]!;
    let type: number;
    let code: number | undefined;
    if (text in ICMP_TYPES) [type, code] = ICMP_TYPES[text]!;
    else {
      const m = /^(\d{1,3})(?:\/(\d{1,3}))?$/.exec(text);
      if (!m) throw new RuleSyntaxError(`Invalid ICMP type \`${text}'`);
      type = Number(m[1]);
      code = m[2] === undefined ? undefined : Number(m[2]);
    }
    const inv = o.invert;
    const typeText = type === 255 ? "any" : code === undefined ? `${type}` : `${type}/${code}`;
    return {
      list:
        type === 255
          ? `icmp${inv ? " !" : ""}any`
          : `icmp${inv ? " !" : ""}type ${type}${code === undefined ? "" : ` code ${code}`}`,
      save: `-m icmp ${inv ? "! " : ""}--icmp-type ${typeText}`,
      test(p) {
        const hit = type === 255 || (p.icmpType === type && (code === undefined || p.icmpCode === code));
        return hit !== inv;
      },
    };
  },
};

const comment: MatchExtension = {
  options: { "--comment": 1 },
  compile(opts) {
    const text = optionOf(opts, "--comment")?.args[0] ?? "";
    return {
      list: `/* ${text} */`,
      save: `-m comment --comment ${quoteArg(text)}`,
      test: () => true,
    };
  },
};

/**
 * iptables-save's xtables_save_string: bare when every character is a letter, digit, `_` or `-`; otherwise
 * (and when empty) double-quoted, with `"`, `\` and `'` escaped.
 */
export function quoteArg(text: string): string {
  if (/^[-_0-9A-Za-z]+$/.test(text)) return text;
  return `"${text.replace(/(["\\'])/g, "\\$1")}"`;
}

const multiport: MatchExtension = {
  options: { "--ports": 1, "--dports": 1, "--destination-ports": 1, "--sports": 1, "--source-ports": 1 },
  compile(opts, protocol) {
    if (protocol !== TCP && protocol !== UDP && protocol !== 132)
      throw new RuleSyntaxError("multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'");
    const o = opts[0];
    if (!o || opts.length > 1)
      throw new RuleSyntaxError("multiport takes exactly one of --ports, --dports, --sports");
    const ranges = o.args[0]!.split(",").map(parsePortRange);
    if (ranges.length > 15) throw new RuleSyntaxError("too many ports specified");
    const kind = o.flag.startsWith("--d") ? "dports" : o.flag.startsWith("--s") ? "sports" : "ports";
    const list = ranges.map((r) => rangeText(r)).join(",");
    const inv = o.invert;
    return {
      list: `multiport ${kind} ${inv ? "!" : ""}${list}`,
      save: `-m multiport ${inv ? "! " : ""}--${kind} ${list}`,
      test(p) {
        let hit = false;
        for (const r of ranges) {
          if ((kind !== "sports" && inRange(r, p.dport)) || (kind !== "dports" && inRange(r, p.sport))) {
            hit = true;
            break;
          }
        }
        return hit !== inv;
      },
    };
  },
};

const statistic: MatchExtension = {
  options: { "--mode": 1, "--probability": 1, "--every": 1, "--packet": 1 },
  compile(opts) {
    const mode = optionOf(opts, "--mode")?.args[0];
    if (mode !== "random")
      throw new RuleSyntaxError(`not supported yet: statistic --mode ${mode ?? "(none)"}`);
    const pOpt = optionOf(opts, "--probability");
    const probability = Number(pOpt?.args[0]);
    if (!pOpt || !(probability >= 0 && probability <= 1))
      throw new RuleSyntaxError("--probability must be between 0 and 1");
    // The kernel keeps the probability as a 31-bit fraction and prints it back from that.
    const fixed = Math.round(probability * 0x80000000) >>> 0;
    const shown = (fixed / 0x80000000).toFixed(11);
    const inv = pOpt.invert;
    return {
      list: `statistic mode random${inv ? " !" : ""} probability ${shown}`,
      save: `-m statistic --mode random ${inv ? "! " : ""}--probability ${shown}`,
      test: (_p, ctx) => ctx.random() * 0x80000000 < fixed !== inv,
    };
  },
};

const ADDRESS_TYPES = [
  "UNSPEC",
  "UNICAST",
  "LOCAL",
  "BROADCAST",
  "ANYCAST",
  "MULTICAST",
  "BLACKHOLE",
  "UNREACHABLE",
  "PROHIBIT",
  "THROW",
  "NAT",
  "XRESOLVE",
];

const addrtype: MatchExtension = {
  options: { "--src-type": 1, "--dst-type": 1, "--limit-iface-in": 0, "--limit-iface-out": 0 },
  compile(opts) {
    const src = optionOf(opts, "--src-type");
    const dst = optionOf(opts, "--dst-type");
    for (const o of [src, dst])
      for (const t of o?.args[0]?.split(",") ?? [])
        if (!ADDRESS_TYPES.includes(t)) throw new RuleSyntaxError(`addrtype: invalid address type \`${t}'`);
    const listParts = ["ADDRTYPE match"];
    const saveParts = ["-m addrtype"];
    if (src) {
      listParts.push(`src-type ${src.invert ? "!" : ""}${src.args[0]}`);
      saveParts.push(`${src.invert ? "! " : ""}--src-type ${src.args[0]}`);
    }
    if (dst) {
      listParts.push(`dst-type ${dst.invert ? "!" : ""}${dst.args[0]}`);
      saveParts.push(`${dst.invert ? "! " : ""}--dst-type ${dst.args[0]}`);
    }
    if (optionOf(opts, "--limit-iface-in")) {
      listParts.push("limit-in");
      saveParts.push("--limit-iface-in");
    }
    if (optionOf(opts, "--limit-iface-out")) {
      listParts.push("limit-out");
      saveParts.push("--limit-iface-out");
    }
    const types = (o: RuleOption | undefined) => o?.args[0]?.split(",") ?? [];
    const srcTypes = types(src);
    const dstTypes = types(dst);
    return {
      list: listParts.join(" "),
      save: saveParts.join(" "),
      test(p, ctx) {
        if (src && anyAddressType(ctx, p.src, srcTypes) === src.invert) return false;
        if (dst && anyAddressType(ctx, p.dst, dstTypes) === dst.invert) return false;
        return true;
      },
    };
  },
};

function anyAddressType(ctx: MatchContext, ip: number, types: string[]): boolean {
  for (const t of types) if (ctx.isAddressType(ip, t)) return true;
  return false;
}

export function parseMarkValue(text: string): { value: number; mask: number } {
  const [v, m] = text.split("/");
  const num = (s: string) => {
    if (!/^(0x[0-9a-fA-F]{1,8}|\d{1,10})$/.test(s)) throw new RuleSyntaxError(`Bad MARK value \`${text}'`);
    const n = Number(s);
    if (n > 0xffffffff) throw new RuleSyntaxError(`Bad MARK value \`${text}'`);
    return n >>> 0;
  };
  return { value: num(v!), mask: m === undefined ? 0xffffffff : num(m) };
}

export function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}

const mark: MatchExtension = {
  options: { "--mark": 1 },
  compile(opts) {
    const o = optionOf(opts, "--mark");
    if (!o) throw new RuleSyntaxError("mark match: --mark is required");
    const { value, mask } = parseMarkValue(o.args[0]!);
    const shown = mask === 0xffffffff ? hex(value) : `${hex(value)}/${hex(mask)}`;
    const inv = o.invert;
    return {
      list: `mark match ${inv ? "! " : ""}${shown}`,
      save: `-m mark ${inv ? "! " : ""}--mark ${shown}`,
      test: (p) => ((p.mark & mask) >>> 0 === value) !== inv,
    };
  },
};

/** In the order iptables prints a state mask (print_state), whatever order the rule named them in. */
const CT_STATES = ["INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED", "SNAT", "DNAT"];

function ctStateMatch(module: "conntrack" | "state"): MatchExtension {
  const flag = module === "conntrack" ? "--ctstate" : "--state";
  return {
    options: { [flag]: 1 },
    compile(opts) {
      const o = optionOf(opts, flag);
      if (!o) throw new RuleSyntaxError(`${module}: ${flag} is required`);
      const named = o.args[0]!.split(",");
      for (const s of named) if (!CT_STATES.includes(s)) throw new RuleSyntaxError(`Bad ctstate "${s}"`);
      const states = CT_STATES.filter((s) => named.includes(s));
      const inv = o.invert;
      const listName = module === "conntrack" ? "ctstate" : "state";
      return {
        list: `${inv ? "! " : ""}${listName} ${states.join(",")}`,
        save: `-m ${module} ${inv ? "! " : ""}${flag} ${states.join(",")}`,
        // xt_conntrack ORs the packet's state bit with the connection's SNAT/DNAT status bits.
        test(_p, ctx) {
          // A loop, not `some`: every packet meets several of these, and a closure per test costs.
          let hit = false;
          for (const s of states)
            if (
              s === ctx.ctState ||
              (s === "SNAT" && ctx.ctNat?.snat === true) ||
              (s === "DNAT" && ctx.ctNat?.dnat === true)
            ) {
              hit = true;
              break;
            }
          return hit !== inv;
        },
      };
    },
  };
}

const set: MatchExtension = {
  options: { "--match-set": 2 },
  compile(opts) {
    const o = optionOf(opts, "--match-set");
    if (!o) throw new RuleSyntaxError("set match: --match-set is required");
    const [name, flagText] = o.args as [string, string];
    const dirs = flagText.split(",");
    if (dirs.some((d) => d !== "src" && d !== "dst") || dirs.length > 6)
      throw new RuleSyntaxError(`You must specify (the comma separated list of) 'src' or 'dst'`);
    const inv = o.invert;
    const typed = dirs as ("src" | "dst")[];
    return {
      list: `${inv ? "! " : ""}match-set ${name} ${flagText}`,
      save: `-m set ${inv ? "! " : ""}--match-set ${name} ${flagText}`,
      test: (p, ctx) => ctx.ipsetHas(name, p, typed) !== inv,
    };
  },
};

const nfacct: MatchExtension = {
  options: { "--nfacct-name": 1 },
  compile(opts) {
    const name = optionOf(opts, "--nfacct-name")?.args[0] ?? "";
    return { list: `nfacct-name  ${name}`, save: `-m nfacct --nfacct-name  ${name}`, test: () => true };
  },
};

export const MATCH_EXTENSIONS: Record<string, MatchExtension> = {
  tcp: portMatch("tcp", TCP),
  udp: portMatch("udp", UDP),
  sctp: portMatch("sctp", SCTP),
  icmp,
  comment,
  multiport,
  statistic,
  addrtype,
  mark,
  conntrack: ctStateMatch("conntrack"),
  state: ctStateMatch("state"),
  set,
  nfacct,
};

/** For `-s`/`-d`: an address or prefix as iptables accepts it. */
export function parseRuleAddress(text: string): Ipv4Prefix {
  const p = parseIpv4Prefix(text);
  if (!p) throw new RuleSyntaxError(`host/network \`${text}' not found`);
  return p;
}
