import { cidrContainsIp, parseCidrOrIp, parseIp } from "../../src/net/index.ts";
import { parseRestore, ruleWords } from "./restore-text.ts";

/**
 * Test support: upstream proxier_test.go's tracePacket. nat KUBE-SERVICES runs first (every DNAT target a
 * probabilistic jump can reach is collected); the destination becomes the first target; then the filter
 * chains kube-proxy owns run. Rules matching marks, conntrack state or `recent` never match, as upstream.
 */
export interface TraceResult {
  output: string;
  masq: boolean;
}

interface Rule {
  chain: string;
  words: string[];
}

export function tracePacket(
  restore: string,
  localIPs: string[],
  flow: { sourceIP: string; protocol: string; destIP: string; destPort: number },
): TraceResult {
  const tables = new Map<string, Map<string, Rule[]>>();
  for (const t of parseRestore(restore)) {
    const chains = new Map<string, Rule[]>();
    for (const line of t.rules) {
      const words = ruleWords(line);
      const rule = { chain: words[1]!, words: words.slice(2) };
      chains.set(rule.chain, [...(chains.get(rule.chain) ?? []), rule]);
    }
    tables.set(t.name, chains);
  }
  const local = localIPs.map((ip) => parseIp(ip)!);
  const isLocal = (ip: string) => {
    const p = parseIp(ip)!;
    return local.some((l) => l.family === p.family && l.value === p.value);
  };
  const outputs: string[] = [];
  let masq = false;
  const packet = { ...flow, protocol: flow.protocol.toLowerCase() };

  const matches = (w: string[]): boolean => {
    for (let i = 0; i < w.length; i++) {
      const negate = w[i] === "!";
      if (negate) i++;
      const opt = w[i]!;
      let ok: boolean;
      switch (opt) {
        case "-s":
        case "-d": {
          const cidr = parseCidrOrIp(w[++i]!)!;
          const ip = parseIp(opt === "-s" ? packet.sourceIP : packet.destIP)!;
          ok = cidr.family === ip.family && cidrContainsIp(cidr, ip);
          break;
        }
        case "-p":
          ok = w[++i] === packet.protocol;
          break;
        case "--dport":
          ok = Number(w[++i]) === packet.destPort;
          break;
        case "--src-type":
        case "--dst-type":
          ok = w[++i] === "LOCAL" && isLocal(opt === "--src-type" ? packet.sourceIP : packet.destIP);
          break;
        case "-m": {
          const module = w[++i];
          if (module === "mark" || module === "conntrack" || module === "recent") return false;
          ok = true;
          break;
        }
        case "--comment":
        case "--nfacct-name":
        case "--mode":
        case "--probability":
          i++;
          ok = true;
          break;
        case "-j":
          return true;
        default:
          throw new Error(`tracer: unknown option ${opt} in ${w.join(" ")}`);
      }
      if (ok === negate) return false;
    }
    return true;
  };

  const runChain = (table: string, chain: string): boolean => {
    for (const rule of tables.get(table)?.get(chain) ?? []) {
      const j = rule.words.indexOf("-j");
      if (j < 0 || !matches(rule.words)) continue;
      const target = rule.words[j + 1]!;
      if (target === "KUBE-MARK-MASQ") {
        masq = true;
        continue;
      }
      if (target === "ACCEPT" || target === "DROP" || target === "REJECT") {
        outputs.push(target);
        return true;
      }
      if (target === "DNAT") {
        outputs.push(rule.words[rule.words.indexOf("--to-destination") + 1]!);
        return true;
      }
      const terminated = runChain(table, target);
      if (terminated && !rule.words.includes("--probability")) return true;
    }
    return false;
  };

  runChain("nat", "KUBE-SERVICES");
  if (outputs.length > 0) packet.destIP = outputs[0]!.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  for (const chain of ["KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-NODEPORTS", "KUBE-PROXY-FIREWALL"])
    runChain("filter", chain);
  return { output: outputs.join(", "), masq };
}
