/**
 * FelixConfiguration settings of issue 19 that upstream bounds, refused in libcalico-go's words (the validator tags
 * of api/pkg/apis/projectcalico/v3/felixconfig.go) or the CRD's (its enum and pattern markers); values upstream
 * takes are accepted.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { findKind, prepareObject } from "../../src/api/index.ts";
import { ValidationError } from "../../src/lib/index.ts";

const def = findKind("projectcalico.org/v3", "FelixConfiguration")!;
const felix = (spec: Record<string, unknown>) =>
  prepareObject(def, {
    apiVersion: "projectcalico.org/v3",
    kind: "FelixConfiguration",
    metadata: { name: "default" },
    spec,
  });

/** The one-line error for `spec`, or "" when it is accepted. */
function refusal(spec: Record<string, unknown>): string {
  try {
    felix(spec);
    return "";
  } catch (e) {
    assert.ok(e instanceof ValidationError, String(e));
    return e.message;
  }
}

const tagError = (field: string, go: string, value: string, tag: string) =>
  `FelixConfiguration "default" is invalid: spec.${field}: error with field ${go} = '${value}' (Reason: failed to validate Field: ${go} because of Tag: ${tag} )`;

test("bpfConnectTimeLoadBalancing: oneof=TCP Enabled Disabled", () => {
  for (const v of ["TCP", "Enabled", "Disabled"])
    assert.equal(refusal({ bpfConnectTimeLoadBalancing: v }), "");
  assert.equal(
    refusal({ bpfConnectTimeLoadBalancing: "tcp" }),
    tagError("bpfConnectTimeLoadBalancing", "BPFConnectTimeLoadBalancing", "tcp", "oneof"),
  );
});

test("wireguardRoutingRulePriority: gt=0, lt=32766", () => {
  for (const v of [1, 99, 32765]) assert.equal(refusal({ wireguardRoutingRulePriority: v }), "");
  assert.equal(
    refusal({ wireguardRoutingRulePriority: 0 }),
    tagError("wireguardRoutingRulePriority", "WireguardRoutingRulePriority", "0", "gt"),
  );
  assert.equal(
    refusal({ wireguardRoutingRulePriority: 32766 }),
    tagError("wireguardRoutingRulePriority", "WireguardRoutingRulePriority", "32766", "lt"),
  );
});

test("wireguardInterfaceName and wireguardInterfaceNameV6: the `interface` validator", () => {
  for (const v of ["wg0", "wireguard.cali", "a_b-c.d", "x".repeat(15)])
    assert.equal(refusal({ wireguardInterfaceName: v }), "");
  assert.equal(
    refusal({ wireguardInterfaceName: "x".repeat(16) }),
    tagError("wireguardInterfaceName", "WireguardInterfaceName", "x".repeat(16), "interface"),
  );
  assert.equal(
    refusal({ wireguardInterfaceNameV6: "wg 0" }),
    tagError("wireguardInterfaceNameV6", "WireguardInterfaceNameV6", "wg 0", "interface"),
  );
});

test("programClusterRoutes: the CRD's enum", () => {
  for (const v of ["Enabled", "Disabled", "EnabledIPIPOnly", "EnabledNoEncapOnly"])
    assert.equal(refusal({ programClusterRoutes: v }), "");
  assert.match(
    refusal({ programClusterRoutes: "enabled" }),
    /^FelixConfiguration "default" is invalid: spec\.programClusterRoutes: /,
  );
});

test("bpfExternalServiceMode: the CRD's pattern ^(?i)(Tunnel|DSR)?$ (case-insensitive, empty allowed)", () => {
  for (const v of ["Tunnel", "DSR", "dsr", "tunnel", ""])
    assert.equal(refusal({ bpfExternalServiceMode: v }), "");
  assert.equal(
    refusal({ bpfExternalServiceMode: "Direct" }),
    `FelixConfiguration "default" is invalid: spec.bpfExternalServiceMode: should match '^(?i)(Tunnel|DSR)?$'`,
  );
});

test("the port settings keep their range words (vxlanPort, wireguardListeningPort)", () => {
  assert.equal(refusal({ vxlanPort: 70000 }), tagError("vxlanPort", "VXLANPort", "70000", "lte"));
  assert.equal(
    refusal({ wireguardListeningPort: 0 }),
    tagError("wireguardListeningPort", "WireguardListeningPort", "0", "gt"),
  );
});
