import assert from "node:assert/strict";
import { test } from "node:test";
import { type ApiObject, findKind, prepareObject } from "../../src/api/index.ts";

function gnp(spec: Record<string, unknown>): ApiObject {
  return { apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkPolicy", metadata: { name: "p1" }, spec };
}

function problem(o: ApiObject): string {
  try {
    prepareObject(findKind(o.apiVersion, o.kind)!, o);
  } catch (e) {
    return (e as Error).message;
  }
  return "accepted";
}

test("invalid selectors, ports, actions and preDNAT egress are refused with libcalico-go's messages", () => {
  const cases: [Record<string, unknown>, string][] = [
    [
      { selector: "bad((" },
      "spec.selector: error with field Selector = 'bad((' (Reason: failed to validate Field: Selector because of Tag: selector )",
    ],
    [
      { ingress: [{ action: "Allow", source: { notSelector: "a ==" } }] },
      "spec.ingress[0].source.notSelector: error with field NotSelector = 'a ==' (Reason: failed to validate Field: NotSelector because of Tag: selector )",
    ],
    [
      { ingress: [{ action: "Accept" }] },
      "spec.ingress[0].action: error with field Action = 'Accept' (Reason: failed to validate Field: Action because of Tag: action )",
    ],
    [
      { ingress: [{ action: "Allow", protocol: "TCP", destination: { ports: ["90:80"] } }] },
      "spec.ingress[0].destination.ports[0]: error with field Port = '90:80' (port range invalid)",
    ],
    [
      { ingress: [{ action: "Allow", protocol: "TCP", destination: { ports: [0] } }] },
      "error with field Port = '0' (port range invalid, port number must be between 1 and 65535)",
    ],
    [
      { ingress: [{ action: "Allow", protocol: "TCP", destination: { ports: ["bad name!"] } }] },
      "error with field Port = 'bad name!' (Reason: failed to validate Field: Port because of Tag: portName )",
    ],
    [
      { ingress: [{ action: "Allow", destination: { ports: [80] } }] },
      "error with field Protocol = '<nil>' (rules that specify ports must set protocol to TCP or UDP or SCTP)",
    ],
    [
      { selector: "all()", preDNAT: true, applyOnForward: true, egress: [{ action: "Allow" }] },
      'spec.egress: error with field PolicySpec.Egress = \'[{"action":"Allow"}]\' (PreDNAT PolicySpec cannot have any Egress rules)',
    ],
    [
      { selector: "all()", preDNAT: true, applyOnForward: true, types: ["Ingress", "Egress"] },
      "(PreDNAT PolicySpec cannot have 'egress' Type)",
    ],
    [
      { selector: "all()", preDNAT: true, ingress: [{ action: "Allow" }] },
      "(ApplyOnForward must be true if either PreDNAT or DoNotTrack is true, for a given PolicySpec)",
    ],
    [
      { selector: "all()", preDNAT: true, doNotTrack: true, applyOnForward: true },
      "(PreDNAT and DoNotTrack cannot both be true, for a given PolicySpec)",
    ],
  ];
  for (const [spec, expected] of cases)
    assert.ok(problem(gnp(spec)).includes(expected), `${problem(gnp(spec))}\n  wanted: ${expected}`);
  // The seed's nodeport-policy is valid as written.
  assert.equal(
    problem(
      gnp({
        order: 100,
        selector: "has(kubernetes.io/hostname)",
        applyOnForward: true,
        preDNAT: true,
        ingress: [{ action: "Deny", protocol: "TCP", destination: { ports: ["30000:32767"] } }],
      }),
    ),
    "accepted",
  );
});
