/**
 * DataplaneInput.reuse: parts reused from an earlier calculator (kube-proxy's rules, BIRD's files) give the very
 * description computed without reuse, are reused only for the same inputs, and a change to their inputs (a
 * service, a BGP peer) recomputes them.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import type { ApiObject } from "../../src/api/index.ts";
import { clusterDataplane, DataplaneCalculator, type DataplaneInput } from "../../src/calc/index.ts";
import { labDataplaneInput } from "./lab-input.ts";

const lab = labDataplaneInput();

const digest = (text: string) => createHash("sha256").update(text).digest("hex");

/** The description and parts with reuse of `earlier`; the parts go through JSON as the CLI's cache file does. */
function withReuse(i: DataplaneInput, earlier: Record<string, unknown>) {
  const calc = new DataplaneCalculator({ ...i, reuse: { digest, earlier } });
  const description = calc.cluster();
  return { description, parts: JSON.parse(JSON.stringify(calc.parts())) as Record<string, unknown> };
}

const denyCustomer: ApiObject = {
  apiVersion: "projectcalico.org/v3",
  kind: "GlobalNetworkPolicy",
  metadata: { name: "deny-customer" },
  spec: { selector: "app == 'customer'", types: ["Ingress"] },
};

test("a description with reused parts equals the one computed without reuse, and a policy change reuses them", () => {
  const plain = clusterDataplane(lab());
  const first = withReuse(lab(), {});
  assert.deepEqual(first.description, plain);
  const keys = Object.keys(first.parts);
  assert.ok(
    keys.some((k) => k.startsWith("kube-proxy:")) && keys.some((k) => k.startsWith("bird:")),
    keys.join(),
  );

  // A policy change: Felix's rules change, kube-proxy's and BIRD's inputs do not (their parts are reused).
  const changed = { ...lab(), objects: [...lab().objects, denyCustomer] };
  const second = withReuse(changed, first.parts);
  assert.deepEqual(second.description, clusterDataplane(changed));
  assert.notDeepEqual(second.description, plain);
  assert.deepEqual(Object.keys(second.parts).sort(), [...keys].sort());
});

test("a part is not reused when its inputs change: a new service and a new BGP peer recompute them", () => {
  const first = withReuse(lab(), {});
  const service: ApiObject = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "extra", namespace: "default" },
    spec: { clusterIP: "198.19.32.77", ports: [{ port: 80, protocol: "TCP" }] },
  };
  const peer: ApiObject = {
    apiVersion: "projectcalico.org/v3",
    kind: "BGPPeer",
    metadata: { name: "extra-peer" },
    spec: { peerIP: "198.19.0.99", asNumber: 65001 },
  };
  const changed = { ...lab(), objects: [...lab().objects, service, peer] };
  const second = withReuse(changed, first.parts);
  assert.deepEqual(second.description, clusterDataplane(changed));
  // The service changes every node's kube-proxy inputs, the peer every host's BIRD inputs: nothing is reused.
  for (const k of Object.keys(second.parts))
    assert.ok(!(k in first.parts), `${k} was reused for other inputs`);
  assert.notDeepEqual(second.description, first.description);
});
