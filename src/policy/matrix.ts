/**
 * Reachability between every pair of pods, per port, computed once per equivalence class: pods with the same
 * labels (which carry namespace and service account), named ports, membership of every CIDR policy or network
 * sets mention, and — when host endpoints exist — node behave identically under policy. After one policy or
 * label change only the rows and columns it can affect are recomputed.
 */
import { type Cidr, cidrContainsIp, formatIp } from "../net/index.ts";
import { evaluateFlow } from "./flow.ts";
import type { Endpoint, Policy, PolicyModel } from "./model.ts";
import { sortPolicies } from "./ordering.ts";
import { podPacket, podToPodApplies, podToPodVerdict } from "./pod-verdict.ts";
import { PolicyIndex } from "./policy-index.ts";
import { protocolName } from "./protocols.ts";

export interface MatrixPort {
  port: number;
  protocol: number;
}

export interface MatrixCell {
  from: string;
  to: string;
  port: number;
  protocol: string;
  allowed: boolean;
}

interface EquivalenceClass {
  key: string;
  rep: Endpoint;
  members: Set<string>;
  /** Position in the cell arrays; stable while the class lives. */
  slot: number;
}

function policyCidrs(model: PolicyModel): Cidr[] {
  const out: Cidr[] = [];
  const add = (rules: Policy["ingress"]) => {
    for (const r of rules ?? [])
      for (const e of [r.source, r.destination]) out.push(...(e.nets ?? []), ...(e.notNets ?? []));
  };
  for (const p of model.policies) {
    add(p.ingress);
    add(p.egress);
  }
  for (const s of model.networkSets) out.push(...s.nets);
  for (const f of [...model.host.failsafeInbound, ...model.host.failsafeOutbound]) if (f.net) out.push(f.net);
  return out;
}

/** Pod name as the matrix prints it: `<namespace>/<pod>`. */
export function podLabel(e: Endpoint): string {
  return `${e.namespace}/${e.pod ?? e.name}`;
}

export class PolicyMatrix {
  private index: PolicyIndex;
  private readonly ports: MatrixPort[];
  private cidrs: Cidr[];
  private readonly classes = new Map<string, EquivalenceClass>();
  private readonly classOf = new Map<string, EquivalenceClass>();
  private readonly slots: (EquivalenceClass | undefined)[] = [];
  /** allowed[(src * capacity + dst) * ports + port], 1 = allowed. */
  private cells: Uint8Array = new Uint8Array(0);
  private capacity = 0;
  private readonly pods: Endpoint[];
  private readonly sharedIps: Set<string>;
  /** Endpoint evaluations performed, for benchmarks. */
  evaluations = 0;

  constructor(model: PolicyModel, ports: MatrixPort[], pods?: Endpoint[]) {
    this.index = new PolicyIndex(model);
    this.ports = ports;
    this.cidrs = policyCidrs(model);
    this.pods = pods ?? model.endpoints.filter((e) => e.kind === "workload" && e.ips.length > 0);
    const seen = new Map<string, number>();
    for (const e of model.endpoints)
      for (const ip of e.ips) seen.set(formatIp(ip), (seen.get(formatIp(ip)) ?? 0) + 1);
    this.sharedIps = new Set([...seen].filter(([, n]) => n > 1).map(([ip]) => ip));
    for (const e of this.pods) this.place(e);
    this.grow();
    this.computeAll();
  }

  get classCount(): number {
    return this.classes.size;
  }

  /** Node only splits classes when host endpoints exist (their forward policy depends on where pods run). */
  private hostEndpointsExist(): boolean {
    return this.index.hostEndpointsByNode.size > 0;
  }

  private keyOf(e: Endpoint): string {
    const labels = Object.keys(e.labels)
      .sort()
      .map((k) => `${k}=${e.labels[k]}`)
      .join("\u0000");
    const ports = e.ports.map((p) => `${p.name}/${p.protocol}/${p.port}`).join(",");
    const ip = e.ips[0]!;
    const nets = this.cidrs.map((c) => (cidrContainsIp(c, ip) ? "1" : "0")).join("");
    const shared = e.ips.some((x) => this.sharedIps.has(formatIp(x))) ? `|ip=${formatIp(ip)}` : "";
    const node = this.hostEndpointsExist() ? `|node=${e.node}` : "";
    return `${labels}|${ports}|${nets}${shared}${node}`;
  }

  private place(e: Endpoint): EquivalenceClass {
    const key = this.keyOf(e);
    let c = this.classes.get(key);
    if (!c) {
      let slot = this.slots.indexOf(undefined);
      if (slot === -1) slot = this.slots.length;
      c = { key, rep: e, members: new Set(), slot };
      this.slots[slot] = c;
      this.classes.set(key, c);
    }
    c.members.add(e.id);
    this.classOf.set(e.id, c);
    return c;
  }

  private grow(): void {
    if (this.slots.length <= this.capacity) return;
    const capacity = Math.max(this.slots.length, this.capacity * 2, 8);
    const next = new Uint8Array(capacity * capacity * this.ports.length);
    const P = this.ports.length;
    for (let s = 0; s < this.capacity; s++)
      for (let d = 0; d < this.capacity; d++)
        for (let p = 0; p < P; p++)
          next[(s * capacity + d) * P + p] = this.cells[(s * this.capacity + d) * P + p]!;
    this.cells = next;
    this.capacity = capacity;
  }

  private computeCell(src: EquivalenceClass, dst: EquivalenceClass): void {
    const P = this.ports.length;
    const base = (src.slot * this.capacity + dst.slot) * P;
    if (podToPodApplies(this.index, src.rep, dst.rep)) {
      const packet = podPacket(src.rep, dst.rep);
      for (let p = 0; p < P; p++) {
        const port = this.ports[p]!;
        packet.protocol = port.protocol;
        packet.dstPort = port.port;
        const v = podToPodVerdict(this.index, src.rep, dst.rep, packet);
        this.evaluations += v === 0 ? 1 : 2;
        this.cells[base + p] = v === 2 ? 1 : 0;
      }
      return;
    }
    for (let p = 0; p < P; p++) {
      const port = this.ports[p]!;
      const r = evaluateFlow(
        this.index,
        {
          from: { kind: "endpoint", endpoint: src.rep },
          to: { kind: "endpoint", endpoint: dst.rep },
          ...port,
        },
        false,
      );
      this.evaluations += r.paths[0]?.checks.length ?? 0;
      this.cells[base + p] = r.allowed ? 1 : 0;
    }
  }

  private computeAll(): void {
    for (const s of this.classes.values()) for (const d of this.classes.values()) this.computeCell(s, d);
  }

  private computeRowsAndColumns(rows: Set<EquivalenceClass>, columns: Set<EquivalenceClass>): void {
    for (const s of rows) for (const d of this.classes.values()) this.computeCell(s, d);
    for (const d of columns) for (const s of this.classes.values()) if (!rows.has(s)) this.computeCell(s, d);
  }

  allowed(fromId: string, toId: string, portIndex: number): boolean {
    const s = this.classOf.get(fromId)!;
    const d = this.classOf.get(toId)!;
    return this.cells[(s.slot * this.capacity + d.slot) * this.ports.length + portIndex] === 1;
  }

  /** Allowed pod pairs per port, counted through class sizes without expanding the matrix. */
  allowedPairs(): number[] {
    const P = this.ports.length;
    const out = new Array<number>(P).fill(0);
    for (const s of this.classes.values())
      for (const d of this.classes.values())
        for (let p = 0; p < P; p++)
          if (this.cells[(s.slot * this.capacity + d.slot) * P + p])
            out[p]! += s.members.size * d.members.size;
    return out;
  }

  cellsList(): MatrixCell[] {
    const sorted = [...this.pods].sort((a, b) =>
      podLabel(a) < podLabel(b) ? -1 : podLabel(a) > podLabel(b) ? 1 : 0,
    );
    const out: MatrixCell[] = [];
    for (const a of sorted)
      for (const b of sorted)
        for (const [i, port] of this.ports.entries())
          out.push({
            from: podLabel(a),
            to: podLabel(b),
            port: port.port,
            protocol: protocolName(port.protocol),
            allowed: this.allowed(a.id, b.id, i),
          });
    return out;
  }

  /**
   * Replaces (or with `next` undefined, removes) one policy and recomputes only what it can change: rows of
   * classes whose egress it selects, columns of classes whose ingress it selects — or everything, when it
   * applies to host endpoints or mentions CIDRs the classes were not split by.
   */
  updatePolicy(previous: Policy | undefined, next: Policy | undefined): void {
    const model = this.index.model;
    const policies = model.policies.filter((p) => p !== previous);
    if (next) policies.push(next);
    const nextModel: PolicyModel = { ...model, policies: sortPolicies(policies) };
    if (next && !model.tiers.some((t) => t.name === next.tier)) {
      this.rebuild(nextModel);
      return;
    }
    const touched = [previous, next].filter((p): p is Policy => p !== undefined);
    const cidrs = policyCidrs(nextModel);
    const newCidr = cidrs.some(
      (c) => !this.cidrs.some((o) => o.family === c.family && o.value === c.value && o.prefix === c.prefix),
    );
    const hostPolicy = touched.some(
      (p) =>
        p.preDNAT ||
        p.doNotTrack ||
        model.endpoints.some((e) => e.kind === "host" && p.selector.matches(e.labels)),
    );
    if (newCidr || hostPolicy) {
      this.rebuild(nextModel);
      return;
    }
    this.index = this.index.withPolicies(nextModel.policies, touched);
    const rows = new Set<EquivalenceClass>();
    const columns = new Set<EquivalenceClass>();
    for (const c of this.classes.values())
      for (const p of touched) {
        if (!p.selector.matches(c.rep.labels)) continue;
        if (p.egress) rows.add(c);
        if (p.ingress) columns.add(c);
      }
    this.computeRowsAndColumns(rows, columns);
  }

  /** Gives a pod new labels: it joins (or founds) the class it now belongs to; a new class gets its row and column. */
  updateEndpoint(next: Endpoint): void {
    const old = this.classOf.get(next.id);
    if (old) {
      old.members.delete(next.id);
      if (old.members.size === 0) {
        this.classes.delete(old.key);
        this.slots[old.slot] = undefined;
      } else if (old.rep.id === next.id) {
        // Another member represents the class; it has the old labels, so the class's cells stay valid.
        old.rep = this.pods.find((p) => old.members.has(p.id))!;
      }
    }
    const podIndex = this.pods.findIndex((p) => p.id === next.id);
    if (podIndex >= 0) this.pods[podIndex] = next;
    else this.pods.push(next);
    this.index = this.index.withEndpoint(next);
    const before = this.classes.size;
    const c = this.place(next);
    if (this.classes.size > before) {
      this.grow();
      this.computeRowsAndColumns(new Set([c]), new Set([c]));
    }
  }

  private rebuild(model: PolicyModel): void {
    this.index = new PolicyIndex(model);
    this.cidrs = policyCidrs(model);
    this.classes.clear();
    this.classOf.clear();
    this.slots.length = 0;
    for (const e of this.pods) this.place(e);
    this.grow();
    this.computeAll();
  }
}
