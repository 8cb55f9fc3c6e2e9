/**
 * `tortie trace` text for overlays: the outer packet's steps (after `encapsulate`, or a WireGuard `handshake`
 * message, until the next tunnel step) are indented one level under the tunnel, on both nodes.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { TraceHopOut, TraceReport } from "../../src/agent/index.ts";
import { traceText } from "../../src/cli/trace-text.ts";

let seq = 0;
const hop = (host: string, stage: string, detail: string): TraceHopOut => ({
  seq: seq++,
  path: "request",
  host,
  stage,
  detail,
});

test("WireGuard: handshake messages and the data packet nest under their tunnel steps", () => {
  const hops = [
    hop("node1", "forward", "in cali1, route 10.0.2.0/26 → dev wireguard.cali"),
    hop("node1", "handshake", "wireguard.cali: handshake initiation to 192.168.0.12:51820"),
    hop("node1", "transmit", "out eth0 to 192.168.0.12 (node2 eth0)"),
    hop("node2", "receive", "in eth0: 192.168.0.11:51820 → 192.168.0.12:51820"),
    hop("node2", "handshake", "wireguard.cali: handshake initiation from 192.168.0.11:51820, responding"),
    hop("node2", "transmit", "out eth0 to 192.168.0.11 (node1 eth0)"),
    hop("node1", "receive", "in eth0: 192.168.0.12:51820 → 192.168.0.11:51820"),
    hop("node1", "handshake", "wireguard.cali: handshake response from 192.168.0.12:51820"),
    hop(
      "node1",
      "encapsulate",
      "wireguard.cali: WireGuard data to peer 192.168.0.12:51820 (outer 124 bytes)",
    ),
    hop("node1", "transmit", "out eth0 to 192.168.0.12 (node2 eth0)"),
    hop("node2", "receive", "in eth0: 192.168.0.11:51820 → 192.168.0.12:51820"),
    hop("node2", "decapsulate", "wireguard.cali: WireGuard data from peer 192.168.0.11:51820"),
    hop("node2", "receive", "in wireguard.cali: 10.0.1.2 → 10.0.2.2"),
  ];
  const report: TraceReport = {
    from: "default/a",
    to: "default/b",
    protocol: "icmp",
    verdict: "delivered",
    request: { packet: "ICMP echo request", src: "10.0.1.2", dst: "10.0.2.2", result: "delivered" },
    reply: { packet: "ICMP echo reply", result: "delivered" },
    hops,
    rules: [],
    nat: [],
    policy: [],
    flow_logs: [],
    unsupported: [],
    warnings: [],
  };
  assert.equal(
    traceText(report),
    [
      "trace default/a → default/b icmp",
      "request: ICMP echo request 10.0.1.2 → 10.0.2.2",
      "node1",
      "  forward in cali1, route 10.0.2.0/26 → dev wireguard.cali",
      "  handshake wireguard.cali: handshake initiation to 192.168.0.12:51820",
      "    transmit out eth0 to 192.168.0.12 (node2 eth0)",
      "node2",
      "    receive in eth0: 192.168.0.11:51820 → 192.168.0.12:51820",
      "  handshake wireguard.cali: handshake initiation from 192.168.0.11:51820, responding",
      "    transmit out eth0 to 192.168.0.11 (node1 eth0)",
      "node1",
      "    receive in eth0: 192.168.0.12:51820 → 192.168.0.11:51820",
      "  handshake wireguard.cali: handshake response from 192.168.0.12:51820",
      "  encapsulate wireguard.cali: WireGuard data to peer 192.168.0.12:51820 (outer 124 bytes)",
      "    transmit out eth0 to 192.168.0.12 (node2 eth0)",
      "node2",
      "    receive in eth0: 192.168.0.11:51820 → 192.168.0.12:51820",
      "  decapsulate wireguard.cali: WireGuard data from peer 192.168.0.11:51820",
      "  receive in wireguard.cali: 10.0.1.2 → 10.0.2.2",
      "verdict: delivered (ICMP echo reply back at default/a)",
      "",
    ].join("\n"),
  );
});
