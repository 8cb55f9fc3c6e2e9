/**
 * Seed 001's manifests as the seed prints them (01-externalIpPool.yml, 02-externalNamespace.yml,
 * 03-nginx-deployment-ns.yml); 01.globalBgpPeer.yml is not printed, so it is seed 002's global peer to host1. Typed
 * by the sim's scenario (seed-001.test.ts) and the linux one (test/linux/seeds.test.ts).
 */
export const SEED001_MANIFESTS: Record<string, string> = {
  "01-externalIpPool.yml": `apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: external-pool
spec:
  cidr: 198.19.24.0/21
  blockSize: 29
  ipipMode: Never
  natOutgoing: true
  nodeSelector: "!all()"
`,
  "02-externalNamespace.yml": `apiVersion: v1
kind: Namespace
metadata:
  annotations:
    cni.projectcalico.org/ipv4pools: '["external-pool"]'
  name: external-ns
`,
  "03-nginx-deployment-ns.yml": `---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
  namespace: external-ns
spec:
  replicas: 1
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
        version: v1
    spec:
      containers:
      - name: nginx
        image: nginx
        imagePullPolicy: IfNotPresent

---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata:
  name: nginx
  namespace: external-ns
spec:
  podSelector:
    matchLabels:
      app: nginx
  policyTypes:
  - Ingress
  - Egress
  ingress:
  - ports:
    - protocol: TCP
      port: 80
---
`,
  "01.globalBgpPeer.yml": `apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: bgppeer-global-host1
spec:
  peerIP: 198.19.15.254
  asNumber: 64512
`,
};
