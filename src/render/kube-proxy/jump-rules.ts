/**
 * The rules kube-proxy puts into the built-in chains (proxier.go `iptablesJumpChains`, each ensured with
 * `iptables -I CHAIN 1`), as an `iptables-restore --noflush` payload. Prepending one by one leaves the last
 * of a chain's list first.
 */
const JUMPS: [table: "filter" | "nat", chain: string, builtin: string, comment: string, extra: string][] = [
  [
    "filter",
    "KUBE-EXTERNAL-SERVICES",
    "INPUT",
    "kubernetes externally-visible service portals",
    "-m conntrack --ctstate NEW ",
  ],
  [
    "filter",
    "KUBE-EXTERNAL-SERVICES",
    "FORWARD",
    "kubernetes externally-visible service portals",
    "-m conntrack --ctstate NEW ",
  ],
  ["filter", "KUBE-NODEPORTS", "INPUT", "kubernetes health check service ports", ""],
  ["filter", "KUBE-SERVICES", "FORWARD", "kubernetes service portals", "-m conntrack --ctstate NEW "],
  ["filter", "KUBE-SERVICES", "OUTPUT", "kubernetes service portals", "-m conntrack --ctstate NEW "],
  ["filter", "KUBE-FORWARD", "FORWARD", "kubernetes forwarding rules", ""],
  [
    "filter",
    "KUBE-PROXY-FIREWALL",
    "INPUT",
    "kubernetes load balancer firewall",
    "-m conntrack --ctstate NEW ",
  ],
  [
    "filter",
    "KUBE-PROXY-FIREWALL",
    "OUTPUT",
    "kubernetes load balancer firewall",
    "-m conntrack --ctstate NEW ",
  ],
  [
    "filter",
    "KUBE-PROXY-FIREWALL",
    "FORWARD",
    "kubernetes load balancer firewall",
    "-m conntrack --ctstate NEW ",
  ],
  ["nat", "KUBE-SERVICES", "OUTPUT", "kubernetes service portals", ""],
  ["nat", "KUBE-SERVICES", "PREROUTING", "kubernetes service portals", ""],
  ["nat", "KUBE-POSTROUTING", "POSTROUTING", "kubernetes postrouting rules", ""],
];

export function renderKubeProxyJumps(): string {
  const out: string[] = [];
  for (const table of ["filter", "nat"] as const) {
    out.push(`*${table}`);
    for (const [t, chain, builtin, comment, extra] of JUMPS)
      if (t === table) out.push(`-I ${builtin} 1 ${extra}-m comment --comment "${comment}" -j ${chain}`);
    out.push("COMMIT");
  }
  return `${out.join("\n")}\n`;
}
