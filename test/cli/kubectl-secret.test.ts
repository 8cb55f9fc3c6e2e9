/** v1 Secrets (BGP passwords reference them): kubectl apply folds stringData into base64 data, as the API server does. */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { CliHarness } from "./harness.ts";

const h = new CliHarness();
after(() => h.cleanup());

const SECRET = `apiVersion: v1
kind: Secret
metadata:
  name: bgp-secrets
  namespace: kube-system
type: Opaque
stringData:
  rr-password: very-secret
`;

test("kubectl apply a Secret with stringData; get shows TYPE and DATA, and -o yaml the base64 data", async () => {
  assert.equal((await h.run("up")).code, 0);
  const applied = await h.run("kubectl apply -f -", SECRET);
  assert.deepEqual(applied, { code: 0, out: "secret/bgp-secrets created\n", err: "" });
  const table = await h.run("kubectl get secret -n kube-system");
  assert.equal(table.code, 0, table.err);
  assert.match(table.out, /^NAME\s+TYPE\s+DATA\s+AGE\nbgp-secrets\s+Opaque\s+1\s+\S+\n$/);
  const yaml = await h.run("kubectl get secret bgp-secrets -n kube-system -o jsonpath={.data.rr-password}");
  assert.deepEqual(yaml, { code: 0, out: Buffer.from("very-secret").toString("base64"), err: "" });
  const bad = await h.run(
    "kubectl apply -f -",
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bad\n  namespace: kube-system\ndata:\n  k: '%%%'\n",
  );
  assert.equal(bad.code, 1);
  assert.match(bad.err, /illegal base64 data/);
});
