import assert from "node:assert/strict";
import { test } from "node:test";
import { type ApiObject, resolveKubectlResource } from "../../src/api/index.ts";
import { toScale, withReplicas } from "../../src/server/index.ts";

const deploy: ApiObject = {
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: {
    name: "customer",
    namespace: "yaobank",
    uid: "u1",
    resourceVersion: "7",
    creationTimestamp: "2026-01-01T00:00:00Z",
  },
  spec: {
    replicas: 3,
    selector: {
      matchLabels: { version: "v1", app: "customer" },
      matchExpressions: [{ key: "tier", operator: "In", values: ["web", "api"] }],
    },
  },
  status: { replicas: 2 },
};

test("toScale: autoscaling/v1 Scale named and versioned as the object, the selector as a string", () => {
  assert.deepEqual(toScale(resolveKubectlResource("deploy")!, deploy), {
    kind: "Scale",
    apiVersion: "autoscaling/v1",
    metadata: {
      name: "customer",
      namespace: "yaobank",
      uid: "u1",
      resourceVersion: "7",
      creationTimestamp: "2026-01-01T00:00:00Z",
    },
    spec: { replicas: 3 },
    status: { replicas: 2, selector: "app=customer,tier in (api,web),version=v1" },
  });
});

test("withReplicas sets spec.replicas on a copy", () => {
  const scaled = withReplicas(deploy, 5);
  assert.equal(scaled.spec.replicas, 5);
  assert.equal(deploy.spec.replicas, 3);
  assert.deepEqual(scaled.spec.selector, deploy.spec.selector);
});
