/**
 * An external host may carry its own BIRD configuration in the topology (the lab's host1 is its router): the
 * built-in topologies' texts are the parser's fixtures, a text BIRD 2 would refuse stops `up` with BIRD's
 * FILE:LINE:COL, and a custom topology runs its router's BIRD.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { BUILT_IN_TOPOLOGIES } from "../../src/control/index.ts";
import { CliHarness, fixture } from "./harness.ts";

const harnesses: CliHarness[] = [];
after(() => {
  for (const h of harnesses) h.cleanup();
});

function harness(): CliHarness {
  const h = new CliHarness();
  harnesses.push(h);
  return h;
}

function hostBird(topology: string, host: string): string | undefined {
  const hosts = BUILT_IN_TOPOLOGIES[topology]!.spec.hosts as { name: string; bird?: string }[];
  return hosts.find((h) => h.name === host)?.bird;
}

test("the built-in topologies' host1 runs the BIRD configuration the parser's fixtures hold", () => {
  assert.equal(hostBird("lab", "host1"), readFileSync(fixture("bird/host1-lab.conf"), "utf8"));
  assert.equal(hostBird("seed000", "host1"), readFileSync(fixture("bird/host1-seed000.conf"), "utf8"));
  for (const t of ["lab", "seed000"])
    for (const h of BUILT_IN_TOPOLOGIES[t]!.spec.hosts as { role: string; bird?: string }[])
      assert.equal(h.bird !== undefined, h.role === "external", `${t}: only the external host carries BIRD`);
});

const topo = (router: string) => `apiVersion: tortie.dev/v1
kind: Topology
metadata: {name: tiny}
spec:
  clusterCIDR: 10.10.0.0/16
  serviceCIDR: 10.96.0.0/16
  defaultPool: {cidr: 10.10.0.0/24, blockSize: 28}
  hosts:
  - {name: cp, address: 192.168.50.1/24, role: control-plane}
  - {name: w1, address: 192.168.50.2/24, role: worker}
${router}`;

const ROUTER_BIRD = `  - name: gw
    address: 192.168.50.254/24
    role: external
    bird: |
      router id 192.168.50.254;
      protocol device {
      }
      protocol kernel {
        ipv4 { import all; export all; };
        merge paths on;
      }
      protocol bgp cp {
        local as 64512;
        neighbor 192.168.50.1 as 64512;
        ipv4 { import all; export none; };
      }
`;

test("a topology whose router's BIRD configuration does not parse is refused, naming the host and BIRD's line", async () => {
  const h = harness();
  const file = join(h.stateDir, "topo.yaml");
  writeFileSync(file, topo(ROUTER_BIRD.replace("protocol device {", "protocol device {\n        bogus on;")));
  const r = await h.run(`up --topology ${file}`);
  assert.equal(r.code, 1);
  assert.equal(
    r.err,
    `error: ${file}: spec.hosts[2].bird: host gw's BIRD configuration does not parse: bird.conf:3:3 not supported yet: 'bogus' in a device protocol\n`,
  );
  assert.match((await h.run("get nodes")).err, /No resources found/, "nothing was written");
  // Only an external host carries its own BIRD: cluster nodes run Calico's, rendered from the datastore.
  writeFileSync(file, topo("").replace("role: worker}", "role: worker, bird: 'router id 1.2.3.4;'}"));
  const worker = await h.run(`up --topology ${file}`);
  assert.equal(worker.code, 1);
  assert.match(worker.err, /spec\.hosts\[1\]\.bird: Forbidden: only an external host carries its own BIRD/);
  // Forbidden whatever the text: a cluster host's BIRD text is not parsed first.
  writeFileSync(file, topo("").replace("role: worker}", "role: worker, bird: 'bogus;'}"));
  const unparsed = await h.run(`up --topology ${file}`);
  assert.equal(unparsed.code, 1);
  assert.match(unparsed.err, /spec\.hosts\[1\]\.bird: Forbidden: only an external host carries its own BIRD/);
});

test("a custom topology's router runs its BIRD; one without BIRD still comes up", async () => {
  const h = harness();
  const file = join(h.stateDir, "topo.yaml");
  writeFileSync(file, topo(ROUTER_BIRD));
  assert.equal((await h.run(`up --topology ${file}`)).code, 0);
  const protocols = await h.run("exec gw -- sudo birdc show protocols");
  assert.equal(protocols.code, 0, protocols.err);
  // cp has no BGPPeer for gw, so its BIRD closes the connection: BIRD 2 shows the peer Active.
  assert.match(
    protocols.out,
    /^cp {9}BGP {8}--- {8}start {2}\d\d:\d\d:\d\d\.\d{3} {2}Active +Socket: Connection closed/m,
  );
  const status = await h.run("exec w1 -- sudo calicoctl node status");
  assert.match(status.out, /^\| 192\.168\.50\.1 \| node-to-node mesh \| up {4}\|/m);

  const plain = harness();
  const file2 = join(plain.stateDir, "topo.yaml");
  writeFileSync(file2, topo("  - {name: gw, address: 192.168.50.254/24, role: external}\n"));
  assert.equal((await plain.run(`up --topology ${file2}`)).code, 0);
  const none = await plain.run("exec gw -- birdc show protocols");
  assert.deepEqual(
    [none.code, none.err],
    [1, "Unable to connect to server control socket (/var/run/bird/bird.ctl): No such file or directory\n"],
  );
});
