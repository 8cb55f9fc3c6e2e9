/**
 * Felix's eBPF programs on one node as the sim runs them (felix/bpf-gpl tc.c, nat.h; reference §6). The tc
 * ingress programs (host uplink, each workload's cali device, and the host's own sends, which connect-time load
 * balancing covers) look a new flow's destination up in the NAT frontend map and pick a backend; the choice goes
 * into the program's own conntrack map, so a flow's later packets follow it. A NodePort flow whose backend is on
 * another node is not NATed here: the original packet, client address intact, goes to that node in VXLAN with
 * Calico's VNI, and that node does the DNAT. The tc egress programs reverse the NAT of replies: on a backend node
 * the reply goes back through the tunnel to the ingress node (`bpfExternalServiceMode: Tunnel`) or straight to the
 * client from the ingress node's address (`DSR`).
 */
import type { BpfDataplaneSpec } from "../../../calc/index.ts";
import { decapsulate, encapsulateVxlan } from "../encapsulation.ts";
import { formatIpv4, parseIpv4 } from "../ipv4.ts";
import { type Packet, UDP } from "../netfilter/index.ts";
import { endpoint } from "../trace-record.ts";
import { type NatBackend, NatTable } from "./nat-table.ts";
import { BpfPolicy } from "./policy.ts";

/** The programs' skb marks netfilter sees (felix/bpf/tc/defs/defs.go; render's BPF_MARKS). */
const MARK_SEEN = 0x01000000;
const MARK_NAT_OUTGOING = 0x01800000;

/** An IPv4 CIDR as network and mask numbers. */
function cidrOf(text: string): [number, number] {
  const [addr, len] = text.split("/");
  const bits = Number(len ?? 32);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return [((parseIpv4(addr ?? "") ?? 0) & mask) >>> 0, mask];
}

function inAny(ip: number, cidrs: readonly [number, number][]): boolean {
  return cidrs.some(([net, mask]) => (ip & mask) >>> 0 === net);
}

/** One flow in the program's conntrack map. */
interface BpfConnection {
  /** `nat`: DNATed here; `tunnel-out`: tunnelled to the backend's node; `tunnel-in`: arrived through the tunnel. */
  kind: "nat" | "tunnel-out" | "tunnel-in";
  service: string;
  /** The destination the client used (the frontend), which replies carry again once the NAT is reversed. */
  frontendIp: number;
  frontendPort: number;
  backend: NatBackend;
  /** `tunnel-in`: the ingress node's address (where Tunnel mode sends replies). */
  ingressNode?: number;
}

/** What the tc ingress program decides for a packet. */
export type BpfIngressVerdict =
  /** Carry on through the kernel with `packet` (DNATed, decapsulated, or as it was). */
  | { action: "pass"; packet: Packet }
  | { action: "drop"; reason: string }
  /** Put `packet` (the VXLAN outer packet) on the uplink to `nextHop`, bypassing netfilter (bpf_redirect). */
  | { action: "tunnel"; packet: Packet; nextHop: number }
  /** A reply whose NAT was reversed here: route it and send it, bypassing netfilter (bpf_fib_lookup + redirect). */
  | { action: "redirect"; packet: Packet };

/** What the tc egress program decides: `packet` replaces the one leaving; `nextHop` overrides the route's. */
export interface BpfEgressVerdict {
  packet: Packet;
  nextHop?: number;
}

function flowKey(proto: number, src: number, sport: number, dst: number, dport: number): string {
  return `${proto}|${src}|${sport}|${dst}|${dport}`;
}

export class BpfProgram {
  private readonly table: NatTable;
  private readonly nodeIP: number;
  /** Flows by their forward tuple (as the client sent them) and by their reply tuple (as the backend answers). */
  private readonly forward = new Map<string, BpfConnection>();
  private readonly reverse = new Map<string, BpfConnection>();
  /** The per-endpoint policy compiled into the programs (absent: the description carries none). */
  readonly policy: BpfPolicy | undefined;
  private readonly masqueradePools: [number, number][];
  private readonly allPools: [number, number][];

  constructor(
    readonly node: string,
    readonly spec: BpfDataplaneSpec,
    private readonly isLocal: (ip: number) => boolean,
  ) {
    this.table = new NatTable(spec);
    this.nodeIP = parseIpv4(spec.nodeIP) ?? 0;
    this.policy = spec.policyProgram ? new BpfPolicy(node, spec.policyProgram) : undefined;
    this.masqueradePools = (spec.natOutgoing?.masqueradePools ?? []).map(cidrOf);
    this.allPools = (spec.natOutgoing?.allPools ?? []).map(cidrOf);
  }

  /**
   * The marks a packet the programs passed carries into netfilter: "seen" (iptables drops workload traffic
   * without it), and NAT outgoing for a workload's packet from a natOutgoing pool to outside every pool (the
   * iptables rule masquerades on that mark).
   */
  markPassed(p: Packet, fromWorkload: boolean): void {
    p.mark = (p.mark | MARK_SEEN) >>> 0;
    if (fromWorkload && inAny(p.src, this.masqueradePools) && !inAny(p.dst, this.allPools))
      p.mark = (p.mark | MARK_NAT_OUTGOING) >>> 0;
  }

  /** The program on a device's tc ingress (`uplink`: the host's uplink, else a workload's cali device). */
  ingress(p: Packet, uplink: boolean, log?: (detail: string) => void): BpfIngressVerdict {
    if (uplink && this.isNodePortTunnel(p)) {
      const inner = decapsulate(p)!;
      const reply = this.reverse.get(flowKey(inner.proto, inner.src, inner.sport, inner.dst, inner.dport));
      if (reply?.kind === "tunnel-out") {
        this.unNat(inner, reply, log);
        log?.(
          `reply from ${formatIpv4(p.src)} through the NodePort tunnel: to the client, not via netfilter`,
        );
        return { action: "redirect", packet: inner };
      }
      log?.(
        `NodePort tunnel from ${formatIpv4(p.src)} (VNI 0x${this.spec.tunnelVni.toString(16)}): decapsulated`,
      );
      return this.lookup(inner, false, p.src, log);
    }
    return this.lookup(p, uplink, undefined, log);
  }

  /** The host's own new flows (connect-time load balancing and the host's tc programs: the same NAT choice). */
  hostOutput(p: Packet, log?: (detail: string) => void): BpfIngressVerdict {
    return this.lookup(p, false, undefined, log);
  }

  /** The program on tc egress (a device's transmit, or delivery to the host's own socket): replies' reverse NAT. */
  egress(p: Packet, log?: (detail: string) => void): BpfEgressVerdict | undefined {
    const conn = this.reverse.get(flowKey(p.proto, p.src, p.sport, p.dst, p.dport));
    if (!conn || conn.kind === "tunnel-out") return undefined;
    if (conn.kind === "tunnel-in" && this.spec.externalServiceMode === "Tunnel") {
      const to = conn.ingressNode!;
      log?.(`reply to ${conn.service} back through the NodePort tunnel to ${formatIpv4(to)}`);
      return { packet: this.encapsulate(p, to), nextHop: to };
    }
    this.unNat(p, conn, log);
    if (conn.kind === "tunnel-in") log?.("DSR: reply straight to the client from the ingress node's address");
    return { packet: p };
  }

  private isNodePortTunnel(p: Packet): boolean {
    const e = p.encapsulated;
    return (
      p.proto === UDP &&
      p.dport === this.spec.tunnelPort &&
      e?.kind === "vxlan" &&
      e.vni === this.spec.tunnelVni &&
      this.isLocal(p.dst)
    );
  }

  /** A flow's NAT: its known connection, or a frontend hit and a new choice of backend. */
  private lookup(
    p: Packet,
    uplink: boolean,
    tunnelFrom: number | undefined,
    log?: (detail: string) => void,
  ): BpfIngressVerdict {
    const key = flowKey(p.proto, p.src, p.sport, p.dst, p.dport);
    let conn = this.forward.get(key);
    if (!conn) {
      const match = this.table.frontend(p, tunnelFrom !== undefined || this.isLocal(p.dst));
      if (!match) return { action: "pass", packet: p };
      const backend = this.table.backend(match, p, this.node, tunnelFrom !== undefined);
      if (!backend) {
        log?.(`NAT frontend ${endpoint(p.dst, p.dport, p.proto)} (${match.service.id}): no backend, dropped`);
        return { action: "drop", reason: `eBPF NAT: no backend for ${match.service.id}` };
      }
      const remoteNodePort = uplink && match.kind !== "ClusterIP" && backend.node !== this.node;
      conn = {
        kind: tunnelFrom !== undefined ? "tunnel-in" : remoteNodePort ? "tunnel-out" : "nat",
        service: match.service.id,
        frontendIp: p.dst,
        frontendPort: p.dport,
        backend,
        ...(tunnelFrom !== undefined ? { ingressNode: tunnelFrom } : {}),
      };
      this.forward.set(key, conn);
      this.reverse.set(flowKey(p.proto, backend.ip, backend.port, p.src, p.sport), conn);
      log?.(
        `NAT frontend ${endpoint(p.dst, p.dport, p.proto)} (${match.service.id}) → backend ${endpoint(backend.ip, backend.port, p.proto)} on ${backend.node}`,
      );
    }
    if (conn.kind === "tunnel-out") {
      log?.(
        `NodePort tunnel to ${conn.backend.node} (${formatIpv4(conn.backend.nodeIP)}): client address kept`,
      );
      return {
        action: "tunnel",
        packet: this.encapsulate(p, conn.backend.nodeIP),
        nextHop: conn.backend.nodeIP,
      };
    }
    p.dst = conn.backend.ip;
    p.dport = conn.backend.port;
    return { action: "pass", packet: p };
  }

  private unNat(p: Packet, conn: BpfConnection, log?: (detail: string) => void): void {
    log?.(
      `reverse NAT ${endpoint(p.src, p.sport, p.proto)} → ${endpoint(conn.frontendIp, conn.frontendPort, p.proto)}`,
    );
    p.src = conn.frontendIp;
    p.sport = conn.frontendPort;
  }

  private encapsulate(inner: Packet, to: number): Packet {
    return encapsulateVxlan(inner, {
      src: this.nodeIP,
      dst: to,
      vni: this.spec.tunnelVni,
      port: this.spec.tunnelPort,
    });
  }
}
