/**
 * Felix's eBPF-mode iptables (felix-bpf-iptables.ts) against int_dataplane.go setUpIptablesBPF and static.go's
 * BPF branches; the full payload of a seed node is pinned by test/golden/ebpf-node1-iptables-save.txt.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { felixPolicyProgram, renderFelixBpfIptables } from "../../src/render/index.ts";

const base = {
  workloadInterfaces: ["calib", "calia"],
  natOutgoing: true,
  endpointToHostAction: "Drop" as const,
};

test("filter: the BPF marks' rules inserted in INPUT/FORWARD/OUTPUT and the known workloads; no policy chains", () => {
  const text = renderFelixBpfIptables(base);
  const filter = text.slice(text.indexOf("*filter"), text.indexOf("COMMIT", text.indexOf("*filter")));
  assert.deepEqual(
    filter.split("\n").filter((l) => l.startsWith(":") || l.startsWith("-")),
    [
      ":cali-to-wl-dispatch - [0:0]",
      "-A cali-to-wl-dispatch -o calia -j ACCEPT",
      "-A cali-to-wl-dispatch -o calib -j ACCEPT",
      '-A cali-to-wl-dispatch -m comment --comment "Unknown interface" -j DROP',
      '-I INPUT 1 -m comment --comment "Accept packets from flows that pre-date BPF." -m mark --mark 0x5000000/0x5000000 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      '-I INPUT 2 -p tcp -m comment --comment "REJECT/rst packets from unknown TCP flows." -m mark --mark 0x5000000/0x5000000 -j REJECT --reject-with tcp-reset',
      '-I INPUT 3 -m comment --comment "DROP packets from unknown non-TCP flows." -m mark --mark 0x5000000/0x5000000 -j DROP',
      "-I INPUT 4 -i cali+ -m mark ! --mark 0x1000000/0x1000000 -j DROP",
      '-I FORWARD 1 -m comment --comment "Pre-approved by BPF programs." -m mark --mark 0x3000000/0x3000000 -j ACCEPT',
      '-I FORWARD 2 -i cali+ -m comment --comment "From workload without BPF seen mark" -m mark ! --mark 0x1000000/0x1000000 -j DROP',
      '-I FORWARD 3 -m comment --comment "Mark pre-established flows." -m conntrack --ctstate RELATED,ESTABLISHED -j MARK --set-xmark 0x8000000/0x8000000',
      '-I FORWARD 4 -o cali+ -m comment --comment "To workload, check workload is known." -j cali-to-wl-dispatch',
      '-I FORWARD 5 -i cali+ -m comment --comment "To workload, mark has already been verified." -j ACCEPT',
      '-I FORWARD 6 -i bpfout.cali -m comment --comment "From bpfout.cali device, mark verified, accept." -j ACCEPT',
      '-I OUTPUT 1 -m comment --comment "Mark pre-established flows." -m conntrack --ctstate RELATED,ESTABLISHED -j MARK --set-xmark 0x8000000/0x8000000',
    ],
  );
  assert.doesNotMatch(text, /cali-(tw|fw|pi|po)-|cali-INPUT|cali-FORWARD|match-set/);
});

test("EndpointToHostAction Accept lets seen workload traffic in; WireGuard's port is accepted otherwise", () => {
  const accept = renderFelixBpfIptables({ ...base, endpointToHostAction: "Accept" });
  assert.match(accept, /^-I INPUT 4 -i cali\+ -m mark --mark 0x1000000\/0x1000000 -j ACCEPT$/m);
  assert.match(accept, /^-I INPUT 5 -i cali\+ -m mark ! --mark 0x1000000\/0x1000000 -j DROP$/m);
  const wg = renderFelixBpfIptables({
    ...base,
    tunnels: { wireguard: { port: 51820, device: "wireguard.cali" } },
  });
  assert.match(wg, /^-I INPUT 5 -p udp .*--dports 51820 .*-j ACCEPT$/m);
});

test("nat: NAT outgoing on the programs' mark only while a pool has natOutgoing; VXLAN stays untracked in raw", () => {
  assert.match(
    renderFelixBpfIptables(base),
    /^-A cali-nat-outgoing -m mark --mark 0x1800000\/0x1f00000 -j MASQUERADE --random-fully$/m,
  );
  assert.doesNotMatch(renderFelixBpfIptables({ ...base, natOutgoing: false }), /-A cali-nat-outgoing/);
  const vxlan = renderFelixBpfIptables({
    ...base,
    tunnels: { vxlan: { sourceNets: [], port: 4789, hasAddress: true } },
  });
  assert.match(vxlan, /^-A cali-OUTPUT -p udp -m udp --dport 4789 -j NOTRACK$/m);
});

test("the policy program is the filter table of the iptables-mode payload, nothing else", () => {
  const restore =
    "*raw\n-A X -j ACCEPT\nCOMMIT\n*filter\n:cali-tw-a - [0:0]\n-A cali-tw-a -j DROP\nCOMMIT\n*nat\nCOMMIT\n";
  assert.equal(felixPolicyProgram(restore), "*filter\n:cali-tw-a - [0:0]\n-A cali-tw-a -j DROP\nCOMMIT\n");
});
