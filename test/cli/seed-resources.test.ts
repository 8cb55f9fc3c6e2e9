import assert from "node:assert/strict";
import { after, test } from "node:test";
import { assertGolden, CliHarness, fixture } from "./harness.ts";

const h = new CliHarness();
after(() => h.cleanup());

const POOLS = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: default-ipv4-ippool
spec:
  cidr: 198.19.16.0/21
  natOutgoing: true
`;

const EXTERNAL_POOL = `---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: external-pool
spec:
  cidr: 198.19.24.0/21            
  blockSize: 29
  ipipMode: Never
  natOutgoing: true
  nodeSelector: "!all()"
`;

/** Runs one seed command, checks it succeeded, and returns its stdout. */
async function ok(line: string, stdin = ""): Promise<string> {
  const r = await h.run(line, stdin);
  assert.equal(r.code, 0, `${line}\nstderr: ${r.err}`);
  return r.out;
}

test("seed 002: IP pools, external pool and namespace annotation (calicoctl + kubectl)", async () => {
  assert.equal(await ok("calicoctl apply -f -", POOLS), "Successfully applied 1 'IPPool' resource(s)\n");
  assertGolden("calicoctl-get-ippools-one.txt", await ok("calicoctl get ippools"));
  assert.equal(
    await ok("calicoctl apply -f - --allow-version-mismatch", EXTERNAL_POOL),
    "Successfully applied 1 'IPPool' resource(s)\n",
  );
  assertGolden("calicoctl-get-ippools.txt", await ok("calicoctl get ippools --allow-version-mismatch"));
  assertGolden("calicoctl-get-ippools-wide.txt", await ok("calicoctl get ippools -o wide"));
  const ns =
    "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  annotations:\n    cni.projectcalico.org/ipv4pools: '[\"external-pool\"]'\n  name: external-ns\n";
  assert.equal(await ok("kubectl apply -f -", ns), "namespace/external-ns created\n");
  assert.equal(
    await ok(`kubectl apply -f ${fixture("lab/nginx.yaml")}`),
    "deployment.apps/nginx created\nnetworkpolicy.networking.k8s.io/nginx created\n",
  );
  assertGolden("kubectl-get-netpol.txt", await ok("kubectl get netpol -n external-ns"));
});

test("seeds 000/002: BGP configuration applied, read back as YAML, patched", async () => {
  const bgp =
    'apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata:\n  name: default\nspec:\n  serviceClusterIPs:\n  - cidr: "198.19.32.0/20"\n';
  assert.equal(
    await ok("calicoctl apply -f -", bgp),
    "Successfully applied 1 'BGPConfiguration' resource(s)\n",
  );
  const yaml = (await ok("calicoctl get bgpconfig default -o yaml")).replace(/uid: .*/, "uid: <uid>");
  assertGolden("calicoctl-get-bgpconfig-default.yaml", yaml);
  assert.equal(
    await ok(
      `calicoctl patch BGPConfig default --patch '{"spec": {"serviceExternalIPs": [{"cidr": "198.19.48.0/20"}]}}'`,
    ),
    "Successfully patched 1 'BGPConfiguration' resource\n",
  );
  const after = await ok("calicoctl get bgpconfig default -o json");
  assert.deepEqual(JSON.parse(after).spec, {
    serviceClusterIPs: [{ cidr: "198.19.32.0/20" }],
    serviceExternalIPs: [{ cidr: "198.19.48.0/20" }],
  });
  assertGolden("calicoctl-get-bgpconfig.txt", await ok("calicoctl get bgpconfig"));
});

test("configurations calico-node would create can be patched on a fresh cluster", async () => {
  const fresh = new CliHarness();
  try {
    for (const line of [
      `calicoctl patch felixconfiguration default --type='merge' -p '{"spec":{"wireguardEnabled":true}}'`,
      `calicoctl patch felixconfiguration default --patch='{"spec": {"bpfExternalServiceMode": "DSR"}}'`,
      `calicoctl patch kubecontrollersconfiguration default --patch='{"spec": {"controllers": {"node": {"hostEndpoint": {"autoCreate": "Enabled"}}}}}'`,
      `calicoctl patch BGPConfig default --patch '{"spec": {"serviceExternalIPs": [{"cidr": "10.50.0.0/24"}]}}'`,
    ]) {
      const r = await fresh.run(line);
      assert.equal(r.code, 0, `${line}: ${r.err}`);
      assert.match(r.out, /^Successfully patched 1 '\w+' resource\n$/);
    }
    const felix = JSON.parse((await fresh.run("calicoctl get felixconfig default -o json")).out);
    assert.deepEqual(felix.spec, { wireguardEnabled: true, bpfExternalServiceMode: "DSR" });
    const missing = await fresh.run(`calicoctl patch ippool nosuch -p '{}'`);
    assert.equal(missing.code, 1);
  } finally {
    fresh.cleanup();
  }
});

test("YAO Bank: apply, re-apply unchanged, patch the service, label the service account", async () => {
  const applied = await ok(`kubectl apply -f ${fixture("lab/yaobank.yaml")}`);
  assertGolden("kubectl-apply-yaobank.txt", applied);
  const again = await ok(`kubectl apply -f ${fixture("lab/yaobank.yaml")}`);
  assert.equal(again, applied.replaceAll(" created", " unchanged"));
  h.now = new Date(h.now.getTime() + (2 * 24 + 1) * 3600_000);
  assertGolden("kubectl-get-svc-yaobank.txt", await ok("kubectl get svc -n yaobank"));
  assert.equal(
    await ok(`kubectl patch svc -n yaobank customer -p '{"spec":{"externalTrafficPolicy":"Local"}}'`),
    "service/customer patched\n",
  );
  assert.equal(
    await ok(`kubectl patch svc -n yaobank customer -p '{"spec": {"externalIPs": ["198.19.48.10"]}}'`),
    "service/customer patched\n",
  );
  assertGolden("kubectl-get-svc-customer.txt", await ok("kubectl get svc -n yaobank customer"));
  assert.equal(
    await ok("kubectl label serviceaccount -n yaobank customer internet-egress=allowed"),
    "serviceaccount/customer labeled\n",
  );
  const sa = JSON.parse(await ok("kubectl get sa -n yaobank customer -o json"));
  assert.deepEqual(sa.metadata.labels, { app: "yaobank", summary: "reader", "internet-egress": "allowed" });
  // The patch survives a re-apply: kubectl's merge keeps fields the manifest never set.
  assert.match(await ok(`kubectl apply -f ${fixture("lab/yaobank.yaml")}`), /service\/customer unchanged/);
  const svc = JSON.parse(await ok("kubectl get svc customer -n yaobank -o json"));
  assert.equal(svc.spec.externalTrafficPolicy, "Local");
  assertGolden("kubectl-get-deploy-wide.txt", await ok("kubectl get deploy -n yaobank -o wide"));
  assertGolden("kubectl-get-ns.txt", await ok("get ns"));
});

test("seed 002 policies, host endpoint, BGP peer and ConfigMap are accepted", async () => {
  const docs = [
    [
      "kubectl",
      "kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata:\n  name: database-policy\n  namespace: yaobank\nspec:\n  podSelector:\n    matchLabels:\n      app: database\n  ingress:\n  - from:\n    - podSelector:\n        matchLabels:\n          app: summary\n    ports:\n      - protocol: TCP\n        port: 2379\n  egress:\n    - to: []\n",
    ],
    [
      "calicoctl",
      'apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: default-app-policy\nspec:\n  namespaceSelector: has(projectcalico.org/name) && projectcalico.org/name not in {"kube-system", "calico-system"}\n  types:\n  - Ingress\n  - Egress\n  egress:\n    - action: Allow\n      protocol: UDP\n      destination:\n        selector: k8s-app == "kube-dns"\n        ports:\n          - 53\n',
    ],
    [
      "calicoctl",
      'apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: egress-lockdown\nspec:\n  order: 600\n  namespaceSelector: has(projectcalico.org/name) && projectcalico.org/name not in {"kube-system", "calico-system"}\n  serviceAccountSelector: internet-egress not in {"allowed"}\n  types:\n  - Egress\n  egress:\n    - action: Deny\n      destination:\n        notNets:\n          - 10.0.0.0/8\n          - 172.16.0.0/12\n          - 192.168.0.0/16\n          - 198.18.0.0/15\n',
    ],
    [
      "calicoctl",
      "---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: default-node-policy\nspec:\n  selector: has(kubernetes.io/hostname)\n  ingress:\n  - action: Allow\n    protocol: TCP\n    source:\n      nets:\n      - 127.0.0.1/32\n  - action: Allow\n    protocol: UDP\n    source:\n      nets:\n      - 127.0.0.1/32\n",
    ],
    [
      "calicoctl",
      '---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: nodeport-policy\nspec:\n  order: 100\n  selector: has(kubernetes.io/hostname)\n  applyOnForward: true\n  preDNAT: true\n  ingress:\n  - action: Allow\n    protocol: TCP\n    destination:\n      ports: [30180]\n    source:\n      nets:\n      - 198.19.15.254/32\n  - action: Deny\n    protocol: TCP\n    destination:\n      ports: ["30000:32767"]\n  - action: Deny\n    protocol: UDP\n    destination:\n      ports: ["30000:32767"]\n',
    ],
    [
      "calicoctl",
      "---\napiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: bgppeer-global-host1\nspec:\n  peerIP: 198.19.15.254\n  asNumber: 64512\n",
    ],
    [
      "kubectl",
      '---\nkind: ConfigMap\napiVersion: v1\nmetadata:\n  name: kubernetes-services-endpoint\n  namespace: yaobank\ndata:\n  KUBERNETES_SERVICE_HOST: "198.19.0.1"\n  KUBERNETES_SERVICE_PORT: "6443"\n',
    ],
    [
      "calicoctl",
      "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata:\n  name: node1-auto-hep\n  labels:\n    kubernetes.io/hostname: node1\nspec:\n  node: node1\n  interfaceName: '*'\n  profiles:\n  - projectcalico-default-allow\n",
    ],
  ];
  for (const [tool, doc] of docs) await ok(`${tool} apply -f -`, doc);
  assertGolden("calicoctl-get-gnp-wide.txt", await ok("calicoctl get gnp -o wide"));
  assertGolden("calicoctl-get-bgppeers.txt", await ok("calicoctl get bgppeers"));
  assertGolden("calicoctl-get-heps.txt", await ok("calicoctl get heps"));
  const gnp = JSON.parse(await ok("calicoctl get gnp default-node-policy -o json"));
  assert.deepEqual(gnp.spec.types, ["Ingress"]);
  assert.equal(gnp.metadata.labels["projectcalico.org/tier"], "default");
});
