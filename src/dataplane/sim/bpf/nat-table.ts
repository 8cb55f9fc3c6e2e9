/**
 * Felix's NAT frontend and backend maps (felix/bpf/nat) as the sim's programs look them up: a frontend by
 * protocol, address and port (NodePorts by port on any of the node's addresses), then one backend of the
 * service, chosen by a hash of the flow (of the client's address with ClientIP session affinity).
 */
import type { BpfBackendSpec, BpfDataplaneSpec, BpfServiceSpec } from "../../../calc/index.ts";
import { mix32 } from "../hash.ts";
import { parseIpv4 } from "../ipv4.ts";
import { type Packet, SCTP, TCP, UDP } from "../netfilter/index.ts";

const PROTO_NUMBER = { TCP, UDP, SCTP } as const;

/** A backend as the programs use it: addresses as numbers. */
export interface NatBackend {
  ip: number;
  port: number;
  node: string;
  nodeIP: number;
  spec: BpfBackendSpec;
}

export interface NatMatch {
  service: BpfServiceSpec;
  kind: "ClusterIP" | "NodePort" | "ExternalIP" | "LoadBalancer";
}

export class NatTable {
  private readonly byAddress = new Map<string, NatMatch>();
  private readonly byNodePort = new Map<string, NatMatch>();
  private readonly backends = new Map<BpfServiceSpec, NatBackend[]>();

  constructor(readonly spec: BpfDataplaneSpec) {
    for (const service of spec.services) {
      this.backends.set(
        service,
        service.backends.map((b) => ({
          ip: parseIpv4(b.ip) ?? 0,
          port: b.port,
          node: b.node,
          nodeIP: parseIpv4(b.nodeIP) ?? 0,
          spec: b,
        })),
      );
      for (const f of service.frontends) {
        const proto = PROTO_NUMBER[f.protocol];
        const match = { service, kind: f.kind };
        if (f.kind === "NodePort") this.byNodePort.set(`${proto}|${f.port}`, match);
        else this.byAddress.set(`${proto}|${parseIpv4(f.ip)}|${f.port}`, match);
      }
    }
  }

  /** The frontend a packet's destination hits; NodePorts only when the destination is the node's (`isLocal`). */
  frontend(p: Packet, nodeAddress: boolean): NatMatch | undefined {
    return (
      this.byAddress.get(`${p.proto}|${p.dst}|${p.dport}`) ??
      (nodeAddress ? this.byNodePort.get(`${p.proto}|${p.dport}`) : undefined)
    );
  }

  /**
   * The backend for a new flow: with a Local traffic policy only this node's (none: the packet is dropped, as
   * Felix's NAT_NO_BACKEND); `onlyLocal` also for a flow that came through the NodePort tunnel.
   */
  backend(match: NatMatch, p: Packet, node: string, onlyLocal: boolean): NatBackend | undefined {
    const s = match.service;
    const policyLocal = match.kind === "ClusterIP" ? s.internalLocal : s.externalLocal;
    const all = this.backends.get(s) ?? [];
    const hash =
      s.affinitySeconds !== undefined ? mix32(p.src) : mix32(p.src, p.sport, p.dst, p.dport, p.proto);
    const pick = (list: NatBackend[]) => (list.length ? list[hash % list.length] : undefined);
    if (!policyLocal) {
      // The same pick the ingress node made, when it is here (the node it tunnelled the flow to).
      const chosen = pick(all);
      if (!onlyLocal || chosen?.node === node) return chosen;
    }
    return pick(all.filter((b) => b.node === node));
  }
}
