import { formatIpv4, parseIpv4 } from "../ipv4.ts";
import { hex, parseMarkValue, quoteArg, type RuleOption, RuleSyntaxError } from "./extensions.ts";

/** What a rule does when it matches, as the traversal needs it and as iptables prints it. */
export type TargetAction =
  | { kind: "ACCEPT" | "DROP" | "RETURN" | "NOTRACK" }
  | { kind: "REJECT"; with: string }
  | { kind: "JUMP" | "GOTO"; chain: string }
  | { kind: "DNAT"; ip: number; portMin: number; portMax: number }
  | { kind: "SNAT"; ip: number; portMin: number; portMax: number; randomFully: boolean }
  | { kind: "MASQUERADE"; portMin: number; portMax: number; randomFully: boolean }
  | { kind: "MARK"; value: number; mask: number }
  | { kind: "LOG" | "NFLOG"; prefix: string };

export interface CompiledTarget {
  name: string;
  action: TargetAction;
  /** `iptables -L` text after the matches ("" when there is none). */
  list: string;
  /** `-j NAME [options]` (or `-g CHAIN`). */
  save: string;
}

const REJECT_TYPES = [
  "icmp-net-unreachable",
  "icmp-host-unreachable",
  "icmp-port-unreachable",
  "icmp-proto-unreachable",
  "icmp-net-prohibited",
  "icmp-host-prohibited",
  "icmp-admin-prohibited",
  "tcp-reset",
];

const TARGET_OPTIONS: Record<string, Record<string, number>> = {
  ACCEPT: {},
  DROP: {},
  RETURN: {},
  NOTRACK: {},
  REJECT: { "--reject-with": 1 },
  DNAT: { "--to-destination": 1, "--random": 0, "--persistent": 0 },
  SNAT: { "--to-source": 1, "--random": 0, "--random-fully": 0, "--persistent": 0 },
  MASQUERADE: { "--to-ports": 1, "--random": 0, "--random-fully": 0 },
  MARK: { "--set-xmark": 1, "--set-mark": 1, "--or-mark": 1, "--and-mark": 1, "--xor-mark": 1 },
  LOG: {
    "--log-prefix": 1,
    "--log-level": 1,
    "--log-tcp-sequence": 0,
    "--log-tcp-options": 0,
    "--log-ip-options": 0,
    "--log-uid": 0,
  },
  NFLOG: {
    "--nflog-group": 1,
    "--nflog-prefix": 1,
    "--nflog-range": 1,
    "--nflog-size": 1,
    "--nflog-threshold": 1,
  },
};

/** Each built-in target's option arities, as Maps: names and flags come from rule text. */
const TARGET_ARITY = new Map(
  Object.entries(TARGET_OPTIONS).map(([n, o]) => [n, new Map(Object.entries(o))] as const),
);

/** The option arities of a built-in target; undefined for a chain. */
export function targetArity(name: string): Map<string, number> | undefined {
  return TARGET_ARITY.get(name);
}

export function isBuiltinTarget(name: string): boolean {
  return TARGET_ARITY.has(name);
}

function opt(options: RuleOption[], flag: string): RuleOption | undefined {
  return options.find((o) => o.flag === flag);
}

function parseNatTo(text: string, withAddress: boolean): { ip: number; portMin: number; portMax: number } {
  const m = withAddress ? /^([\d.]+)(?::(\d+)(?:-(\d+))?)?$/.exec(text) : /^()(\d+)(?:-(\d+))?$/.exec(text);
  const ip = withAddress ? parseIpv4(m?.[1] ?? "") : 0;
  if (!m || ip === undefined) throw new RuleSyntaxError(`Bad IP address "${text}"`);
  const portMin = m[2] === undefined ? 0 : Number(m[2]);
  const portMax = m[3] === undefined ? portMin : Number(m[3]);
  if (portMin > 65535 || portMax > 65535 || portMax < portMin)
    throw new RuleSyntaxError(`Port range \`${text}' invalid`);
  return { ip, portMin, portMax };
}

function natToText(ip: number | undefined, portMin: number, portMax: number): string {
  const ports = portMin === 0 ? "" : portMin === portMax ? `${portMin}` : `${portMin}-${portMax}`;
  if (ip === undefined) return ports;
  return ports === "" ? formatIpv4(ip) : `${formatIpv4(ip)}:${ports}`;
}

/**
 * A jump to a chain, and a DNAT: the targets a kube-proxy ruleset has one of per endpoint. Their text is
 * built when asked for (listing, saving), not kept: a large ruleset holds hundreds of thousands of them.
 */
class JumpTarget implements CompiledTarget {
  readonly list = "";
  readonly action: { kind: "JUMP" | "GOTO"; chain: string };

  constructor(
    readonly name: string,
    goto: boolean,
  ) {
    this.action = { kind: goto ? "GOTO" : "JUMP", chain: name };
  }

  get save(): string {
    return `${this.action.kind === "GOTO" ? "-g" : "-j"} ${this.name}`;
  }
}

class DnatTarget implements CompiledTarget {
  readonly name = "DNAT";

  constructor(readonly action: { kind: "DNAT"; ip: number; portMin: number; portMax: number }) {}

  get list(): string {
    return `to:${natToText(this.action.ip, this.action.portMin, this.action.portMax)}`;
  }

  get save(): string {
    return `-j DNAT --to-destination ${natToText(this.action.ip, this.action.portMin, this.action.portMax)}`;
  }
}

export function compileTarget(name: string, goto: boolean, options: RuleOption[]): CompiledTarget {
  if (goto) return new JumpTarget(name, true);
  switch (name) {
    case "ACCEPT":
    case "DROP":
    case "RETURN":
    case "NOTRACK":
      return { name, action: { kind: name }, list: "", save: `-j ${name}` };
    case "REJECT": {
      const w = opt(options, "--reject-with")?.args[0] ?? "icmp-port-unreachable";
      const canonical = w === "icmp-admin-prohibited" ? w : w.replace(/^(port|host|net|proto)-/, "icmp-$1-");
      if (!REJECT_TYPES.includes(canonical)) throw new RuleSyntaxError(`unknown reject type "${w}"`);
      return {
        name,
        action: { kind: "REJECT", with: canonical },
        list: `reject-with ${canonical}`,
        save: `-j REJECT --reject-with ${canonical}`,
      };
    }
    case "DNAT": {
      const to = opt(options, "--to-destination");
      if (!to) throw new RuleSyntaxError('DNAT: option "--to-destination" must be specified');
      const t = parseNatTo(to.args[0]!, true);
      return new DnatTarget({ kind: "DNAT", ip: t.ip, portMin: t.portMin, portMax: t.portMax });
    }
    case "SNAT": {
      const to = opt(options, "--to-source");
      if (!to) throw new RuleSyntaxError('SNAT: option "--to-source" must be specified');
      const t = parseNatTo(to.args[0]!, true);
      const randomFully = opt(options, "--random-fully") !== undefined;
      const text = natToText(t.ip, t.portMin, t.portMax);
      return {
        name,
        action: { kind: "SNAT", ...t, randomFully },
        list: `to:${text}${randomFully ? " random-fully" : ""}`,
        save: `-j SNAT --to-source ${text}${randomFully ? " --random-fully" : ""}`,
      };
    }
    case "MASQUERADE": {
      const ports = opt(options, "--to-ports");
      const t = ports ? parseNatTo(ports.args[0]!, false) : { portMin: 0, portMax: 0 };
      const randomFully = opt(options, "--random-fully") !== undefined;
      const portText = natToText(undefined, t.portMin, t.portMax);
      const list = [ports ? `masq ports: ${portText}` : "", randomFully ? "random-fully" : ""].filter(
        Boolean,
      );
      const save = [
        "-j MASQUERADE",
        ports ? `--to-ports ${portText}` : "",
        randomFully ? "--random-fully" : "",
      ];
      return {
        name,
        action: { kind: "MASQUERADE", portMin: t.portMin, portMax: t.portMax, randomFully },
        list: list.join(" "),
        save: save.filter(Boolean).join(" "),
      };
    }
    case "MARK":
      return compileMark(options);
    case "LOG": {
      const prefix = opt(options, "--log-prefix")?.args[0] ?? "";
      const level = opt(options, "--log-level")?.args[0] ?? "4";
      return {
        name,
        action: { kind: "LOG", prefix },
        list: `LOG flags 0 level ${level}${prefix ? ` prefix "${prefix}"` : ""}`,
        save: `-j LOG${prefix ? ` --log-prefix ${quoteArg(prefix)}` : ""}${level !== "4" ? ` --log-level ${level}` : ""}`,
      };
    }
    case "NFLOG": {
      const prefix = opt(options, "--nflog-prefix")?.args[0] ?? "";
      const group = opt(options, "--nflog-group")?.args[0];
      const range = opt(options, "--nflog-range")?.args[0];
      const list = [
        prefix ? `nflog-prefix  ${prefix}` : "",
        group ? `nflog-group ${group}` : "",
        range ? `nflog-range ${range}` : "",
      ];
      const save = [
        "-j NFLOG",
        prefix ? `--nflog-prefix ${quoteArg(prefix)}` : "",
        group ? `--nflog-group ${group}` : "",
        range ? `--nflog-range ${range}` : "",
      ];
      return {
        name,
        action: { kind: "NFLOG", prefix },
        list: list.filter(Boolean).join(" "),
        save: save.filter(Boolean).join(" "),
      };
    }
    default:
      return new JumpTarget(name, false);
  }
}

/** MARK's forms all become `--set-xmark value/mask`: clear the mask's bits, then XOR the value in. */
function compileMark(options: RuleOption[]): CompiledTarget {
  const o = options[0];
  if (!o || options.length > 1)
    throw new RuleSyntaxError(
      "MARK target: exactly one of --set-xmark, --set-mark, --or-mark, --and-mark, --xor-mark is required",
    );
  const arg = o.args[0]!;
  let value: number;
  let mask: number;
  let list: string;
  switch (o.flag) {
    case "--set-xmark":
    case "--set-mark": {
      const p = parseMarkValue(arg);
      value = p.value;
      mask = p.mask;
      list =
        mask === 0xffffffff
          ? `MARK set ${hex(value)}`
          : value === mask
            ? `MARK or ${hex(value)}`
            : `MARK xset ${hex(value)}/${hex(mask)}`;
      if (value === 0 && mask !== 0xffffffff) list = `MARK and ${hex(~mask >>> 0)}`;
      break;
    }
    case "--or-mark":
      value = parseMarkValue(arg).value;
      mask = value;
      list = `MARK or ${hex(value)}`;
      break;
    case "--and-mark":
      value = 0;
      mask = ~parseMarkValue(arg).value >>> 0;
      list = `MARK and ${hex(~mask >>> 0)}`;
      break;
    case "--xor-mark":
      value = parseMarkValue(arg).value;
      mask = 0;
      list = `MARK xor ${hex(value)}`;
      break;
    default:
      throw new RuleSyntaxError(`MARK: unknown option ${o.flag}`);
  }
  return {
    name: "MARK",
    action: { kind: "MARK", value, mask },
    list,
    save: `-j MARK --set-xmark ${hex(value)}/${hex(mask)}`,
  };
}
