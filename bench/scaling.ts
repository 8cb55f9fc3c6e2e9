/**
 * Scaling rows: the lab's shape (control + workers + host1 as the lab's BGP router) at N hosts, each command a
 * separate `bin/tortie` process on its own state dir, as a user runs them: `up --topology FILE --app yaobank`,
 * `kubectl apply -f` of a NetworkPolicy, `kubectl get pods -A`, and `exec host1 -- curl -s <control>:30180`
 * (the first after the apply, then the steady state). Each figure is wall time and peak RSS of the process
 * (GNU time's %M, so whatever bin/tortie starts is included), and its CPU time (user + system): on a shared
 * machine wall time mostly measures the neighbours.
 *
 * BGP: Calico's default node-to-node mesh (N(N-1)/2 sessions), or route reflectors as Calico recommends beyond
 * ~100 nodes: the mesh off (BGPConfiguration default), control labelled route-reflector=true with a
 * routeReflectorClusterID, and one BGPPeer from every node to the reflectors. host1 peers with every cluster
 * node in the mesh (as the lab's host1 does with its three) and with the reflector only otherwise.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type BgpLayout = "mesh" | "reflectors";

const UNDERLAY_PREFIX = 16;
const REFLECTOR_LABEL = "route-reflector";
const REFLECTOR_CLUSTER_ID = "244.0.0.1";
const HOST1_IP = "198.19.255.254";
const CONTROL_IP = "198.19.0.1";
const NODE_PORT = 30180;

/** Underlay address of worker i (1-based): 198.19.0.2 upwards, skipping .0 and .255 in each /24. */
export function workerAddress(i: number): string {
  if (!Number.isInteger(i) || i < 1 || i > 250 * 254) throw new Error(`worker index out of range: ${i}`);
  const k = i; // control holds the first address (198.19.0.1)
  return `198.19.${Math.floor(k / 254)}.${(k % 254) + 1}`;
}

/** host1's bird.conf: the lab's router (HOST1_LAB_BIRD's shape), one iBGP session per peer address. */
export function host1Bird(peers: { name: string; ip: string }[]): string {
  const lines = [
    "# host1: the scaling topology's standalone BGP router (BIRD 2), shaped like the lab's.",
    `router id ${HOST1_IP};`,
    "",
    "filter calico_routes {",
    "  if net ~ 10.96.0.0/16 then accept;",
    "  reject;",
    "}",
    "",
    "protocol device {",
    "}",
    "",
    "protocol kernel {",
    "  ipv4 {",
    "    import all;",
    "    export all;",
    "  };",
    "  learn;",
    "  merge paths on;",
    "  metric 0;",
    "}",
  ];
  for (const p of peers)
    lines.push(
      "",
      `protocol bgp ${p.name.replace(/[^A-Za-z0-9_]/g, "_")} {`,
      "  local as 64512;",
      `  neighbor ${p.ip} as 64512;`,
      "  multihop;",
      "  ipv4 {",
      "    import filter calico_routes;",
      "    export none;",
      "    add paths on;",
      "  };",
      "}",
    );
  return `${lines.join("\n")}\n`;
}

/** A Topology of `hosts` hosts: control, hosts − 2 workers, host1 (external, the BGP router). */
export function scalingTopology(hosts: number, bgp: BgpLayout): Record<string, unknown> {
  if (!Number.isInteger(hosts) || hosts < 3)
    throw new Error(`a scaling topology needs at least 3 hosts, got ${hosts}`);
  const cluster: {
    name: string;
    address: string;
    role: string;
    interface: string;
    labels?: Record<string, string>;
  }[] = [
    {
      name: "control",
      address: `${CONTROL_IP}/${UNDERLAY_PREFIX}`,
      role: "control-plane",
      interface: "ens4",
      ...(bgp === "reflectors" ? { labels: { [REFLECTOR_LABEL]: "true" } } : {}),
    },
  ];
  for (let i = 1; i <= hosts - 2; i++)
    cluster.push({
      name: `node${i}`,
      address: `${workerAddress(i)}/${UNDERLAY_PREFIX}`,
      role: "worker",
      interface: "ens4",
    });
  const peers = (bgp === "mesh" ? cluster : cluster.slice(0, 1)).map((h) => ({
    name: h.name,
    ip: h.address.split("/")[0]!,
  }));
  return {
    apiVersion: "tortie.dev/v1",
    kind: "Topology",
    metadata: { name: `scale${hosts}` },
    spec: {
      clusterCIDR: "10.0.0.0/12",
      serviceCIDR: "10.96.0.0/16",
      dnsServiceIP: "10.96.0.10",
      kubernetesVersion: "v1.18.10+k3s1",
      defaultPool: {
        name: "default-ipv4-ippool",
        cidr: "10.0.0.0/12",
        blockSize: 26,
        natOutgoing: true,
        encapsulation: "None",
      },
      hosts: [
        ...cluster,
        {
          name: "host1",
          address: `${HOST1_IP}/${UNDERLAY_PREFIX}`,
          role: "external",
          interface: "ens4",
          bird: host1Bird(peers),
        },
      ],
    },
  };
}

/** The resources that turn the mesh off and peer every node with the reflectors (applied before `up`). */
export function reflectorResources(): Record<string, unknown>[] {
  return [
    {
      apiVersion: "projectcalico.org/v3",
      kind: "BGPConfiguration",
      metadata: { name: "default" },
      spec: { nodeToNodeMeshEnabled: false, asNumber: 64512 },
    },
    {
      apiVersion: "projectcalico.org/v3",
      kind: "BGPPeer",
      metadata: { name: "peer-with-route-reflectors" },
      spec: { nodeSelector: "all()", peerSelector: `${REFLECTOR_LABEL} == 'true'` },
    },
  ];
}

/** The NetworkPolicy `kubectl apply`'d in each run: customer's ingress on TCP 80, which the curl still passes. */
export const SCALING_POLICY = {
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  metadata: { name: "customer-ingress", namespace: "yaobank" },
  spec: {
    podSelector: { matchLabels: { app: "customer" } },
    policyTypes: ["Ingress"],
    ingress: [{ ports: [{ protocol: "TCP", port: 80 }] }],
  },
};

export interface Measured {
  /** Wall time. */
  ms: number;
  /** User + system CPU time of the process (and whatever it waited for). */
  cpuMs: number;
  rssMb: number;
  stdout: string;
}

/** Runs bin/tortie under GNU time (for the peak RSS); throws with the command's stderr when it fails. */
export function timedTortie(bin: string, stateDir: string, args: string[]): Measured {
  const timeOut = `${stateDir}.time`;
  const t = performance.now();
  const r = spawnSync(
    "/usr/bin/time",
    ["-f", "%M %U %S", "-o", timeOut, bin, "--state-dir", stateDir, ...args],
    {
      encoding: "utf8",
      maxBuffer: 1 << 28,
    },
  );
  const ms = performance.now() - t;
  if (r.error) throw r.error;
  if (r.status !== 0) {
    const why = (r.stderr ?? "").trim().split("\n").slice(-3).join(" / ");
    throw new Error(`tortie ${args.join(" ")} exited ${r.status}: ${why}`);
  }
  const last = readFileSync(timeOut, "utf8").trim().split("\n").pop() ?? "";
  const m = /^(\d+) ([\d.]+) ([\d.]+)$/.exec(last);
  if (!m) throw new Error(`unexpected /usr/bin/time output: ${last}`);
  return { ms, cpuMs: (Number(m[2]) + Number(m[3])) * 1000, rssMb: Number(m[1]) / 1024, stdout: r.stdout };
}

export interface ScalingResult {
  hosts: number;
  bgp: BgpLayout;
  up: Measured;
  apply: Measured;
  get: Measured;
  /** The first exec after the apply (it brings the hosts' rules up to date). */
  execFirst: Measured;
  /** The following execs (steady state). */
  execSteady: Measured[];
}

/** One cluster of `hosts` hosts on a fresh state dir: up, apply, get, exec × (1 + steady). */
export function runScaling(bin: string, hosts: number, bgp: BgpLayout, steady: number): ScalingResult {
  const dir = mkdtempSync(join(tmpdir(), `tortie-scaling-${hosts}-`));
  try {
    const state = join(dir, "state");
    const topology = join(dir, "topology.json");
    writeFileSync(topology, JSON.stringify(scalingTopology(hosts, bgp)));
    const policy = join(dir, "policy.json");
    writeFileSync(policy, JSON.stringify(SCALING_POLICY));
    if (bgp === "reflectors") {
      const rr = join(dir, "reflectors.yaml");
      writeFileSync(
        rr,
        reflectorResources()
          .map((o) => JSON.stringify(o))
          .join("\n---\n"),
      );
      timedTortie(bin, state, ["calicoctl", "apply", "-f", rr]);
    }
    const up = timedTortie(bin, state, ["up", "--topology", topology, "--app", "yaobank"]);
    if (bgp === "reflectors")
      timedTortie(bin, state, [
        "calicoctl",
        "patch",
        "node",
        "control",
        "-p",
        JSON.stringify({ spec: { bgp: { routeReflectorClusterID: REFLECTOR_CLUSTER_ID } } }),
      ]);
    const apply = timedTortie(bin, state, ["kubectl", "apply", "-f", policy]);
    if (!apply.stdout.includes("customer-ingress")) throw new Error(`kubectl apply printed: ${apply.stdout}`);
    const get = timedTortie(bin, state, ["kubectl", "get", "pods", "-A"]);
    if (!get.stdout.includes("customer-"))
      throw new Error("kubectl get pods -A does not list the customer pod");
    const curl = ["exec", "host1", "--", "curl", "-s", `${CONTROL_IP}:${NODE_PORT}`];
    const execFirst = timedTortie(bin, state, curl);
    if (execFirst.stdout.trim() === "") throw new Error("curl through the node port printed nothing");
    const execSteady: Measured[] = [];
    for (let i = 0; i < steady; i++) execSteady.push(timedTortie(bin, state, curl));
    return { hosts, bgp, up, apply, get, execFirst, execSteady };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface ScalingCase {
  hosts: number;
  bgp: BgpLayout;
}

/** "4:mesh,200:reflectors" → cases; a bare number means the mesh. */
export function parseScalingCases(text: string): ScalingCase[] {
  return text.split(",").map((part) => {
    const [h, b = "mesh"] = part.trim().split(":");
    const hosts = Number(h);
    if (!Number.isInteger(hosts) || hosts < 3)
      throw new Error(`scaling case "${part}": hosts must be an integer ≥ 3`);
    if (b !== "mesh" && b !== "reflectors")
      throw new Error(`scaling case "${part}": BGP must be mesh or reflectors, got "${b}"`);
    return { hosts, bgp: b };
  });
}

const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const cell = (m: Measured) => `${sec(m.ms)} (CPU ${sec(m.cpuMs)}, ${m.rssMb.toFixed(0)} MB)`;

function medianOf(ms: Measured[]): Measured {
  const byWall = [...ms].sort((a, b) => a.ms - b.ms);
  const byCpu = [...ms].sort((a, b) => a.cpuMs - b.cpuMs);
  const byRss = [...ms].sort((a, b) => a.rssMb - b.rssMb);
  const mid = ms.length >> 1;
  return { ms: byWall[mid]!.ms, cpuMs: byCpu[mid]!.cpuMs, rssMb: byRss[mid]!.rssMb, stdout: "" };
}

/** BGP sessions between cluster nodes (host1's sessions to the nodes come on top). */
function sessions(c: ScalingCase): number {
  const nodes = c.hosts - 1;
  return c.bgp === "mesh" ? (nodes * (nodes - 1)) / 2 : nodes - 1;
}

/**
 * The scaling rows as a Markdown table: each case once (BENCH_SCALING_STEADY steady-state execs, default 3,
 * median of each of wall, CPU and RSS), the steady exec compared with the first case's.
 */
export function benchScaling(
  bin: string,
  cases: ScalingCase[],
  anchor?: { what: string; ms: number },
): string {
  const steady = Number(process.env.BENCH_SCALING_STEADY ?? "3");
  if (!Number.isInteger(steady) || steady < 1)
    throw new Error("BENCH_SCALING_STEADY must be a positive integer");
  const lines = [
    "| hosts | BGP (sessions) | up --app yaobank | kubectl apply -f policy | kubectl get pods -A | exec host1 -- curl, first after the apply | exec host1 -- curl, steady (median of " +
      `${steady}) | steady exec ÷ ${cases[0]?.hosts ?? "?"} hosts (wall, CPU) |`,
    "|---|---|---|---|---|---|---|---|",
  ];
  let base: Measured | undefined;
  for (const c of cases) {
    console.error(`scaling: ${c.hosts} hosts, ${c.bgp}`);
    const r = runScaling(bin, c.hosts, c.bgp, steady);
    const s = medianOf(r.execSteady);
    base ??= s;
    const ratio = `${(s.ms / base.ms).toFixed(2)}×, ${(s.cpuMs / base.cpuMs).toFixed(2)}×`;
    const layout = c.bgp === "mesh" ? "node-to-node mesh" : "route reflector (control)";
    lines.push(
      `| ${c.hosts.toLocaleString("en-US")} | ${layout} (${sessions(c).toLocaleString("en-US")}) | ${cell(r.up)} | ${cell(r.apply)} | ${cell(r.get)} | ${cell(r.execFirst)} | ${cell(s)} | ${ratio} |`,
    );
    console.error(lines[lines.length - 1]);
  }
  return [
    "Scaling (each command a separate bin/tortie process on a fresh state dir; wall time, CPU time (user + system) and peak RSS" +
      (anchor ? `; ${anchor.what} in the same run: ${sec(anchor.ms)} wall):` : "):"),
    "",
    ...lines,
  ].join("\n");
}
