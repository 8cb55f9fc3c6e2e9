/**
 * Random rulesets for the differential test (fast-check), over the matches and targets the sim supports, on
 * a fixed topology: host1 (198.19.15.254) — router (198.19.0.2 on ens4; calip1, calip2 with proxy ARP) —
 * pods p1 (198.19.22.128) and p2 (198.19.22.129). 198.19.32.0/20 is blackholed on the router, so a flow to
 * the "service" 198.19.32.10 goes nowhere unless a DNAT rule takes it somewhere.
 *
 * Restrictions, each so that the kernel itself sends no packet the sim does not model (the sim sends no
 * ICMP redirects and has no martian-source check): DNAT rules carry `-i ens4` (so a pod's packet is never
 * sent back to itself), and every port a flow or DNAT can reach is served on TCP and UDP (no ICMP port
 * unreachable). `statistic` uses probability 0 or 1 only, `MASQUERADE` no `--to-ports`.
 */
import fc from "fast-check";
import type { Flow, Scenario } from "./scenario.ts";
import type { TopologySpec } from "./topology.ts";

export const P1 = "198.19.22.128";
export const P2 = "198.19.22.129";
export const HOST1 = "198.19.15.254";
export const ROUTER = "198.19.0.2";
export const SERVICE = "198.19.32.10";
const PORTS = [80, 443, 8080];

export const RANDOM_TOPOLOGY: TopologySpec = {
  namespaces: [
    {
      name: "router",
      forward: true,
      routes: [
        // Linux answers proxy ARP for 169.254.1.1 only with a route to it through another device.
        `default via ${HOST1} dev ens4`,
        "blackhole 198.19.32.0/20",
        `${P1}/32 dev calip1 scope link`,
        `${P2}/32 dev calip2 scope link`,
      ],
    },
    {
      name: "host1",
      routes: [`198.19.16.0/20 via ${ROUTER} dev ens4`, `198.19.32.0/20 via ${ROUTER} dev ens4`],
    },
    { name: "p1", routes: ["169.254.1.1 dev eth0 scope link", "default via 169.254.1.1 dev eth0"] },
    { name: "p2", routes: ["169.254.1.1 dev eth0 scope link", "default via 169.254.1.1 dev eth0"] },
  ],
  veths: [
    [
      { ns: "router", dev: "ens4", addrs: [`${ROUTER}/20`] },
      { ns: "host1", dev: "ens4", addrs: [`${HOST1}/20`] },
    ],
    [
      { ns: "router", dev: "calip1", addrs: [], proxyArp: true },
      { ns: "p1", dev: "eth0", addrs: [`${P1}/32`] },
    ],
    [
      { ns: "router", dev: "calip2", addrs: [], proxyArp: true },
      { ns: "p2", dev: "eth0", addrs: [`${P2}/32`] },
    ],
  ],
};

const SERVE = { tcp: PORTS, udp: PORTS };

type Hook = "pre" | "fwd" | "post";

const ADDRS = [
  HOST1,
  "198.19.0.0/20",
  P1,
  P2,
  "198.19.16.0/20",
  "198.19.22.128/31",
  "198.19.32.0/20",
  "10.0.0.0/8",
];
const IFACES = ["ens4", "calip1", "calip2", "cali+"];
const CT_STATES = ["NEW", "ESTABLISHED", "RELATED", "INVALID", "DNAT", "SNAT"];

const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 2 });
const not = (b: boolean) => (b ? "! " : "");

interface Matches {
  text: string;
  /** The protocol when the rule names one without `!` (a port-carrying DNAT needs tcp or udp). */
  proto?: string;
}

function matchesArb(hook: Hook, forceInEns4: boolean): fc.Arbitrary<Matches> {
  const portSpec = fc.constantFrom("80", "443", "1024:65535", "443:8080", "0:1023");
  return fc
    .record({
      src: opt(fc.tuple(fc.boolean(), fc.constantFrom(...ADDRS))),
      dst: opt(fc.tuple(fc.boolean(), fc.constantFrom(...ADDRS))),
      inIf:
        hook === "post" ? fc.constant(undefined) : opt(fc.tuple(fc.boolean(), fc.constantFrom(...IFACES))),
      outIf:
        hook === "pre" ? fc.constant(undefined) : opt(fc.tuple(fc.boolean(), fc.constantFrom(...IFACES))),
      proto: opt(fc.tuple(fc.boolean(), fc.constantFrom("tcp", "udp", "icmp"))),
      explicitModule: fc.boolean(),
      ports: opt(
        fc.oneof(
          fc.record({ kind: fc.constantFrom("--sport", "--dport"), invert: fc.boolean(), spec: portSpec }),
          fc.record({
            kind: fc.constantFrom("--dports", "--sports", "--ports"),
            invert: fc.boolean(),
            list: fc.subarray(["80", "443", "8080", "1000:2000", "30000:65535"], { minLength: 1 }),
          }),
        ),
      ),
      icmpType: opt(fc.tuple(fc.boolean(), fc.constantFrom("echo-request", "echo-reply", "8", "any"))),
      comment: opt(fc.constantFrom("td rule", "plain", 'say "hi"')),
      mark: opt(fc.tuple(fc.boolean(), fc.constantFrom("0x1", "0x1/0x1", "0x2/0x3", "0x4000/0x4000"))),
      ct: opt(
        fc.tuple(
          fc.constantFrom("conntrack", "state"),
          fc.boolean(),
          fc.shuffledSubarray(CT_STATES, { minLength: 1, maxLength: 3 }),
        ),
      ),
      statistic: opt(fc.tuple(fc.boolean(), fc.constantFrom("0", "1", "1.0", "0.0"))),
    })
    .map((m) => {
      const parts: string[] = [];
      if (m.src) parts.push(`${not(m.src[0])}-s ${m.src[1]}`);
      if (m.dst) parts.push(`${not(m.dst[0])}-d ${m.dst[1]}`);
      if (forceInEns4) parts.push("-i ens4");
      else if (m.inIf) parts.push(`${not(m.inIf[0])}-i ${m.inIf[1]}`);
      if (m.outIf) parts.push(`${not(m.outIf[0])}-o ${m.outIf[1]}`);
      let proto: string | undefined;
      if (m.proto) {
        parts.push(`${not(m.proto[0])}-p ${m.proto[1]}`);
        if (!m.proto[0]) proto = m.proto[1];
      }
      if ((proto === "tcp" || proto === "udp") && m.ports) {
        const p = m.ports;
        if ("spec" in p)
          parts.push(`${m.explicitModule ? `-m ${proto} ` : ""}${not(p.invert)}${p.kind} ${p.spec}`);
        else parts.push(`-m multiport ${not(p.invert)}${p.kind} ${p.list.join(",")}`);
      }
      if (proto === "icmp" && m.icmpType)
        parts.push(`-m icmp ${not(m.icmpType[0])}--icmp-type ${m.icmpType[1]}`);
      if (m.comment) parts.push(`-m comment --comment "${m.comment.replace(/"/g, '\\"')}"`);
      if (m.mark) parts.push(`-m mark ${not(m.mark[0])}--mark ${m.mark[1]}`);
      if (m.ct) {
        const states = m.ct[0] === "state" ? m.ct[2].filter((s) => s !== "DNAT" && s !== "SNAT") : m.ct[2];
        if (states.length)
          parts.push(
            m.ct[0] === "state"
              ? `-m state ${not(m.ct[1])}--state ${states.join(",")}`
              : `-m conntrack ${not(m.ct[1])}--ctstate ${states.join(",")}`,
          );
      }
      if (m.statistic)
        parts.push(`-m statistic --mode random ${not(m.statistic[0])}--probability ${m.statistic[1]}`);
      return { text: parts.join(" "), proto };
    });
}

const markTarget = fc.constantFrom(
  "-j MARK --set-mark 0x1",
  "-j MARK --set-xmark 0x2/0x3",
  "-j MARK --or-mark 0x4000",
  "-j MARK --and-mark 0xfffffffe",
  "-j MARK --xor-mark 0x1",
);

type TargetKind = string | "DNAT" | "SNAT" | "MASQUERADE" | "MARK";

function ruleArb(hook: Hook, targets: TargetKind[]): fc.Arbitrary<string> {
  return fc.constantFrom(...targets).chain((target) =>
    matchesArb(hook, target === "DNAT").chain((m) => {
      const head = m.text ? `${m.text} ` : "";
      const withPorts = m.proto === "tcp" || m.proto === "udp";
      let t: fc.Arbitrary<string>;
      if (target === "DNAT")
        t = fc
          .tuple(fc.constantFrom(P1, P2), withPorts ? opt(fc.constantFrom(80, 8080)) : fc.constant(undefined))
          .map(([ip, port]) => `-j DNAT --to-destination ${ip}${port ? `:${port}` : ""}`);
      else if (target === "SNAT")
        t = fc
          .tuple(fc.constantFrom(ROUTER, "198.19.22.200"), fc.boolean())
          .map(([ip, rf]) => `-j SNAT --to-source ${ip}${rf ? " --random-fully" : ""}`);
      else if (target === "MASQUERADE") t = fc.constantFrom("-j MASQUERADE", "-j MASQUERADE --random-fully");
      else if (target === "MARK") t = markTarget;
      else if (/^[A-Z]+$/.test(target)) t = fc.constant(`-j ${target}`);
      else t = fc.constant(target);
      return t.map((tt) => `${head}${tt}`.trim());
    }),
  );
}

function chainArb(name: string, hook: Hook, targets: TargetKind[]): fc.Arbitrary<string[]> {
  return fc
    .array(ruleArb(hook, targets), { maxLength: 4 })
    .map((rules) => rules.map((r) => `-A ${name} ${r}`));
}

/** An iptables-restore payload with all four tables (so conntrack and NAT are on in the namespace). */
export const rulesetArb: fc.Arbitrary<string> = fc
  .record({
    rawPre: chainArb("PREROUTING", "pre", ["", "ACCEPT", "MARK", "DROP"]),
    manglePre: chainArb("PREROUTING", "pre", ["ACCEPT", "MARK", "RETURN", "-j TD-M1", "DROP"]),
    mangleM1: chainArb("TD-M1", "pre", ["ACCEPT", "MARK", "RETURN", ""]),
    mangleFwd: chainArb("FORWARD", "fwd", ["ACCEPT", "MARK", "RETURN", ""]),
    manglePost: chainArb("POSTROUTING", "post", ["ACCEPT", "MARK", "DROP", ""]),
    natPre: chainArb("PREROUTING", "pre", ["DNAT", "DNAT", "ACCEPT", "RETURN", "-j TD-DNAT"]),
    natDnat: chainArb("TD-DNAT", "pre", ["DNAT", "DNAT", "RETURN"]),
    natPost: chainArb("POSTROUTING", "post", ["SNAT", "MASQUERADE", "ACCEPT", "RETURN", "-j TD-SNAT"]),
    natSnat: chainArb("TD-SNAT", "post", ["SNAT", "MASQUERADE", "RETURN"]),
    filterFwd: chainArb("FORWARD", "fwd", [
      "ACCEPT",
      "DROP",
      "RETURN",
      "MARK",
      "-j TD-F1",
      "-j TD-F2",
      "-g TD-F2",
    ]),
    filterF1: chainArb("TD-F1", "fwd", ["ACCEPT", "DROP", "RETURN", "MARK", "-j TD-F2", "-g TD-F2"]),
    filterF2: chainArb("TD-F2", "fwd", ["ACCEPT", "DROP", "RETURN", "MARK", ""]),
    forwardPolicy: fc.constantFrom("ACCEPT", "ACCEPT", "DROP"),
  })
  .map((r) =>
    [
      "*raw",
      ":PREROUTING ACCEPT [0:0]",
      ":OUTPUT ACCEPT [0:0]",
      ...r.rawPre,
      "COMMIT",
      "*mangle",
      ":PREROUTING ACCEPT [0:0]",
      ":INPUT ACCEPT [0:0]",
      ":FORWARD ACCEPT [0:0]",
      ":OUTPUT ACCEPT [0:0]",
      ":POSTROUTING ACCEPT [0:0]",
      ":TD-M1 - [0:0]",
      ...r.manglePre,
      ...r.mangleM1,
      ...r.mangleFwd,
      ...r.manglePost,
      "COMMIT",
      "*nat",
      ":PREROUTING ACCEPT [0:0]",
      ":INPUT ACCEPT [0:0]",
      ":OUTPUT ACCEPT [0:0]",
      ":POSTROUTING ACCEPT [0:0]",
      ":TD-DNAT - [0:0]",
      ":TD-SNAT - [0:0]",
      ...r.natPre,
      ...r.natDnat,
      ...r.natPost,
      ...r.natSnat,
      "COMMIT",
      "*filter",
      ":INPUT ACCEPT [0:0]",
      `:FORWARD ${r.forwardPolicy} [0:0]`,
      ":OUTPUT ACCEPT [0:0]",
      ":TD-F1 - [0:0]",
      ":TD-F2 - [0:0]",
      ...r.filterFwd,
      ...r.filterF1,
      ...r.filterF2,
      "COMMIT",
      "",
    ].join("\n"),
  );

const flowArb: fc.Arbitrary<Flow> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom<Flow["proto"]>("tcp", "udp", "icmp"),
      fc.constantFrom(P1, P2, SERVICE),
      fc.constantFrom(...PORTS),
    )
    .map(([proto, dst, port]) => ({ from: "host1", proto, dst, dport: proto === "icmp" ? 0 : port })),
  fc
    .tuple(fc.constantFrom<Flow["proto"]>("tcp", "udp", "icmp"), fc.constantFrom(...PORTS))
    .map(([proto, port]) => ({ from: "p1", proto, dst: HOST1, dport: proto === "icmp" ? 0 : port })),
);

export const scenarioArb: fc.Arbitrary<Scenario> = fc
  .tuple(rulesetArb, fc.array(flowArb, { minLength: 3, maxLength: 6 }))
  .map(([iptables, flows]) => ({
    spec: RANDOM_TOPOLOGY,
    router: "router",
    servers: { host1: SERVE, p1: SERVE, p2: SERVE },
    iptables,
    flows,
  }));
