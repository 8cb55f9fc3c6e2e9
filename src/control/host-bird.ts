/**
 * The external host's own BIRD 2 configuration (/etc/bird/bird.conf) in the built-in topologies: host1 is the
 * labs' BGP router (../shared/lab/README.md, "host1's BGP router configuration"). One source of truth: the
 * parser's fixtures (test/fixtures/bird/host1-*.conf) must equal these texts (test/sim/host-bird.test.ts).
 */

/** The lab's host1 (seed 002 addressing): iBGP to control, node1 and node2. */
export const HOST1_LAB_BIRD = `# host1: the lab's standalone BGP router (BIRD 2), as the lab's cloud-init sets it up
# (../shared/lab/README.md, "host1's BGP router configuration").
router id 198.19.15.254;

# Learn the routes the labs advertise, and nothing else: the service external IP range (exactly),
# service cluster IPs (the range and any /32 inside it) and the external pool's blocks. The default
# pool's /26 blocks are never learned.
filter calico_routes {
  if net = 198.19.48.0/20 then accept;
  if net ~ 198.19.32.0/20 then accept;
  if net ~ 198.19.24.0/21 then accept;
  reject;
}

protocol device {
}

# The host's subnet in BIRD's own table. The iBGP sessions are multihop, so \`gateway recursive\`: a next hop
# resolves through this table, never the kernel's FIB, and \`learn\` does not import the kernel's own subnet
# routes; without this, every learned route would be unreachable. (Seed 001's Bird VM has direct1 too.)
protocol direct {
  ipv4;
  interface "ens4";
}

# Program every route into the kernel, equal-cost paths merged (ECMP).
protocol kernel {
  ipv4 {
    import all;
    export all;
  };
  learn;
  merge paths on;
  # The labs' host1 shows its BIRD routes without a metric (seeds 000 and 002); BIRD 2's default is 32.
  metric 0;
}

protocol bgp control {
  local as 64512;
  neighbor 198.19.0.1 as 64512;
  multihop;
  ipv4 {
    import filter calico_routes;
    export none;
    add paths on;
  };
}

protocol bgp node1 {
  local as 64512;
  neighbor 198.19.0.2 as 64512;
  multihop;
  ipv4 {
    import filter calico_routes;
    export none;
    add paths on;
  };
}

protocol bgp node2 {
  local as 64512;
  neighbor 198.19.0.3 as 64512;
  multihop;
  ipv4 {
    import filter calico_routes;
    export none;
    add paths on;
  };
}
`;

/** Seed 000's host1: the same router in the older addressing (master1, worker1, worker2). */
export const HOST1_SEED000_BIRD = `# host1 in seed 000's addressing (the older variant of the labs): the same router as host1-lab.conf.
# Seed 000 shows the service cluster IP range 10.49.0.0/16, the service external IP range 10.50.0.0/24
# and the external pool's /29 blocks (10.48.2.176/29, 10.48.2.232/29), taken to lie in 10.48.2.0/24.
# Unlike the lab's host1 it also learns /32s inside the external IP range: seed 000 C.5 curls the
# externalTrafficPolicy Local service's external IP from host1, which works only via the node with the endpoint.
router id 10.0.0.20;

filter calico_routes {
  if net ~ 10.50.0.0/24 then accept;
  if net ~ 10.49.0.0/16 then accept;
  if net ~ 10.48.2.0/24 then accept;
  reject;
}

protocol device {
}

# The host's subnet in BIRD's own table. The iBGP sessions are multihop, so \`gateway recursive\`: a next hop
# resolves through this table, never the kernel's FIB, and \`learn\` does not import the kernel's own subnet
# routes; without this, every learned route would be unreachable. (Seed 001's Bird VM has direct1 too.)
protocol direct {
  ipv4;
  interface "ens160";
}

protocol kernel {
  ipv4 {
    import all;
    export all;
  };
  learn;
  merge paths on;
  # The labs' host1 shows its BIRD routes without a metric (seeds 000 and 002); BIRD 2's default is 32.
  metric 0;
}

protocol bgp master1 {
  local as 64512;
  neighbor 10.0.0.10 as 64512;
  multihop;
  ipv4 {
    import filter calico_routes;
    export none;
    add paths on;
  };
}

protocol bgp worker1 {
  local as 64512;
  neighbor 10.0.0.11 as 64512;
  multihop;
  ipv4 {
    import filter calico_routes;
    export none;
    add paths on;
  };
}

protocol bgp worker2 {
  local as 64512;
  neighbor 10.0.0.12 as 64512;
  multihop;
  ipv4 {
    import filter calico_routes;
    export none;
    add paths on;
  };
}
`;
