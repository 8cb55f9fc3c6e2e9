import { type Ipv4Prefix, parseIpv4, parseIpv4Prefix, prefixContains } from "./ipv4.ts";
import type { Packet } from "./netfilter/index.ts";

export type IpSetType = "hash:ip" | "hash:net" | "hash:ip,port";

export interface IpSet {
  name: string;
  type: IpSetType;
  ips: Set<number>;
  nets: Ipv4Prefix[];
  /** hash:ip,port members as `ip|proto|port`. */
  ipPorts: Set<string>;
  members: string[];
}

const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };

/** The namespace's IP sets, loaded with `ipset restore` text (create/add/flush/destroy). */
export class IpSets {
  readonly sets = new Map<string, IpSet>();

  restore(text: string): void {
    const staged = new Map(this.sets);
    text.split("\n").forEach((raw, i) => {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) return;
      const [cmd, name, ...rest] = line.split(/\s+/);
      const fail = (msg: string) => {
        throw new Error(`ipset v7.17: Error in line ${i + 1}: ${msg}`);
      };
      if (!name) fail("Missing set name");
      const set = staged.get(name!);
      switch (cmd) {
        case "create": {
          const type = rest[0] as IpSetType;
          if (!["hash:ip", "hash:net", "hash:ip,port"].includes(type))
            fail(`not supported yet: set type ${type}`);
          staged.set(name!, { name: name!, type, ips: new Set(), nets: [], ipPorts: new Set(), members: [] });
          break;
        }
        case "add": {
          if (!set) fail(`The set with the given name does not exist`);
          const member = rest[0] ?? "";
          addMember(set!, member, fail);
          break;
        }
        case "flush":
          if (set) Object.assign(set, { ips: new Set(), nets: [], ipPorts: new Set(), members: [] });
          break;
        case "destroy":
          staged.delete(name!);
          break;
        default:
          fail(`Unknown command ${cmd}`);
      }
    });
    this.sets.clear();
    for (const [k, v] of staged) this.sets.set(k, v);
  }

  has(name: string, p: Packet, dirs: readonly ("src" | "dst")[]): boolean {
    const set = this.sets.get(name);
    if (!set) return false;
    const ip = dirs[0] === "src" ? p.src : p.dst;
    switch (set.type) {
      case "hash:ip":
        return set.ips.has(ip);
      case "hash:net":
        for (const n of set.nets) if (prefixContains(n, ip)) return true;
        return false;
      case "hash:ip,port": {
        const port = (dirs[1] ?? dirs[0]) === "src" ? p.sport : p.dport;
        return set.ipPorts.has(`${ip}|${p.proto}|${port}`);
      }
    }
  }
}

function addMember(set: IpSet, member: string, fail: (m: string) => never): void {
  if (set.type === "hash:ip") {
    const ip = parseIpv4(member);
    if (ip === undefined) fail(`Syntax error: cannot parse ${member}`);
    set.ips.add(ip!);
  } else if (set.type === "hash:net") {
    const net = parseIpv4Prefix(member);
    if (!net) fail(`Syntax error: cannot parse ${member}`);
    set.nets.push(net!);
  } else {
    const m = /^([\d.]+),(?:(tcp|udp|sctp):)?(\d+)$/.exec(member);
    const ip = m ? parseIpv4(m[1]!) : undefined;
    if (!m || ip === undefined) fail(`Syntax error: cannot parse ${member}`);
    set.ipPorts.add(`${ip}|${PROTOCOLS[m![2] ?? "tcp"]}|${Number(m![3])}`);
  }
  set.members.push(member);
}
