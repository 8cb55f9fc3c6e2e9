/**
 * Tunnel devices in the packet path. Sending: a packet routed out of a VXLAN, IPIP or WireGuard device is wrapped
 * and the outer packet is sent by the host's own stack (OUTPUT, routing, POSTROUTING: the host's rules see the
 * outer packet). Receiving: an outer packet the host's INPUT accepted is unwrapped by the device it is for, and the
 * inner one arrives on that device (PREROUTING on), as vxlan_rcv, ipip_rcv and WireGuard's socket do.
 */
import { decapsulate, encapsulateIpip, encapsulateVxlan, IPIP, wireguardMessage } from "./encapsulation.ts";
import { formatIpv4 } from "./ipv4.ts";
import type { Kernel, Link } from "./kernel.ts";
import { type Packet, UDP } from "./netfilter/index.ts";
import type { Delivery, PacketTap } from "./network.ts";
import type { Trace } from "./trace-record.ts";
import { peerForAddress, type WireguardDevice, type WireguardPeer } from "./tunnel-devices.ts";

/** What the tunnel devices need of the network: the host's stack, the clock and the packet tap. */
export interface TunnelStack {
  now: number;
  tap?: PacketTap;
  sendFromHost(kernel: Kernel, p: Packet, trace: Trace | undefined, depth: number): Delivery;
  receiveOn(kernel: Kernel, dev: string, p: Packet, trace: Trace | undefined, depth: number): Delivery;
}

/** WireGuard's REJECT_AFTER_TIME: a session older than this needs a new handshake. */
const SESSION_LIFETIME_MS = 180_000;
/** A tunnel device has no link-layer header: a capture on it shows the IP packet alone. */
const NO_FRAME = { src: "", dst: "" };

export function isTunnel(link: Link): boolean {
  return link.kind === "vxlan" || link.kind === "ipip" || link.kind === "wireguard";
}

function dropped(kernel: Kernel, reason: string, trace: Trace | undefined): Delivery {
  trace?.hops.push({ host: kernel.name, stage: "drop", detail: reason });
  return { kind: "dropped", host: kernel.name, reason };
}

/** Sends `p`, routed out of tunnel device `link` towards `nextHop`, wrapped. */
export function tunnelTransmit(
  stack: TunnelStack,
  kernel: Kernel,
  link: Link,
  nextHop: number,
  p: Packet,
  trace: Trace | undefined,
  depth: number,
): Delivery {
  if (link.kind === "vxlan") return vxlanTransmit(stack, kernel, link, nextHop, p, trace, depth);
  if (link.kind === "ipip") {
    // tunl0 has no remote of its own: the outer destination is the route's (onlink) gateway.
    if (nextHop === p.dst)
      return dropped(kernel, `${link.name}: no gateway for ${formatIpv4(p.dst)} (IPIP needs a via)`, trace);
    const outer = encapsulateIpip(p, { src: 0, dst: nextHop });
    stack.tap?.(kernel, link.name, "out", p, NO_FRAME);
    trace?.hops.push({
      host: kernel.name,
      stage: "encapsulate",
      detail: `${link.name}: IPIP to ${formatIpv4(nextHop)} (outer ${outer.len} bytes)`,
      outIface: link.name,
    });
    return stack.sendFromHost(kernel, outer, trace, depth + 1);
  }
  return wireguardTransmit(stack, kernel, link, p, trace, depth);
}

function vxlanTransmit(
  stack: TunnelStack,
  kernel: Kernel,
  link: Link,
  nextHop: number,
  p: Packet,
  trace: Trace | undefined,
  depth: number,
): Delivery {
  const device = link.vxlan!;
  // nolearning and no default fdb entry: without Felix's permanent neighbour and fdb entries the packet is lost.
  const neighbour = kernel.neighbours.get(`${link.name}|${nextHop}`);
  if (!neighbour)
    return dropped(kernel, `${link.name}: no neighbour entry for ${formatIpv4(nextHop)}`, trace);
  const fdb = kernel.fdb.find((e) => e.dev === link.name && e.mac === neighbour.mac);
  if (!fdb) return dropped(kernel, `${link.name}: no fdb entry for ${neighbour.mac}`, trace);
  const frame = { src: link.mac, dst: neighbour.mac };
  const outer = encapsulateVxlan(p, {
    src: device.local,
    dst: fdb.dst,
    vni: device.vni,
    port: device.port,
    frame,
  });
  stack.tap?.(kernel, link.name, "out", p, frame);
  trace?.hops.push({
    host: kernel.name,
    stage: "encapsulate",
    detail: `${link.name}: VXLAN vni ${device.vni} to VTEP ${formatIpv4(fdb.dst)}:${device.port} (${neighbour.mac}, outer ${outer.len} bytes)`,
    outIface: link.name,
  });
  return stack.sendFromHost(kernel, outer, trace, depth + 1);
}

function sessionUp(peer: WireguardPeer, now: number): boolean {
  return peer.handshakeAt !== undefined && now - peer.handshakeAt < SESSION_LIFETIME_MS;
}

function wireguardTransmit(
  stack: TunnelStack,
  kernel: Kernel,
  link: Link,
  p: Packet,
  trace: Trace | undefined,
  depth: number,
): Delivery {
  const wg = link.wireguard!;
  const peer = peerForAddress(wg, p.dst);
  if (!peer) {
    // wg_xmit: no peer for the destination → ICMP host unreachable to the sender.
    trace?.hops.push({
      host: kernel.name,
      stage: "drop",
      detail: `${link.name}: no peer's allowed IPs hold ${formatIpv4(p.dst)}`,
    });
    return { kind: "unreachable", host: kernel.name, reason: "host" };
  }
  const outer = {
    src: 0,
    sport: wg.listenPort,
    dst: peer.endpoint.ip,
    dport: peer.endpoint.port,
    mark: wg.fwmark,
  };
  const peerLabel = `${formatIpv4(peer.endpoint.ip)}:${peer.endpoint.port}`;
  if (!sessionUp(peer, stack.now)) {
    const initiation = wireguardMessage(
      { type: 1, sender: wg.derivedPublicKey, receiver: peer.publicKey },
      { ...outer },
    );
    peer.txBytes += initiation.len - 28;
    trace?.hops.push({
      host: kernel.name,
      stage: "handshake",
      detail: `${link.name}: handshake initiation to ${peerLabel}`,
      outIface: link.name,
    });
    stack.sendFromHost(kernel, initiation, trace, depth + 1);
    if (!sessionUp(peer, stack.now))
      return dropped(kernel, `${link.name}: handshake with peer ${peerLabel} did not complete`, trace);
  }
  const data = wireguardMessage(
    { type: 4, sender: wg.derivedPublicKey, receiver: peer.publicKey, inner: p },
    outer,
  );
  peer.txBytes += data.len - 28;
  stack.tap?.(kernel, link.name, "out", p, NO_FRAME);
  trace?.hops.push({
    host: kernel.name,
    stage: "encapsulate",
    detail: `${link.name}: WireGuard data to peer ${peerLabel} (outer ${data.len} bytes)`,
    outIface: link.name,
  });
  return stack.sendFromHost(kernel, data, trace, depth + 1);
}

/**
 * The device that takes an outer packet `kernel` accepted, and what becomes of the inner one; undefined when no
 * device is for it (the packet goes to the host's sockets as any other).
 */
export function tunnelReceive(
  stack: TunnelStack,
  kernel: Kernel,
  p: Packet,
  trace: Trace | undefined,
  depth: number,
): Delivery | undefined {
  const e = p.encapsulated;
  if (!e) return undefined;
  let device: Link | undefined;
  for (const link of kernel.links.values()) {
    if (!link.up) continue;
    if (e.kind === "vxlan" && p.proto === UDP && link.vxlan?.port === p.dport && link.vxlan.vni === e.vni)
      device = link;
    else if (e.kind === "ipip" && p.proto === IPIP && link.kind === "ipip") device = link;
    else if (e.kind === "wireguard" && p.proto === UDP && link.wireguard?.listenPort === p.dport)
      device = link;
    if (device) break;
  }
  if (!device) return undefined;
  if (e.kind === "wireguard") return wireguardReceive(stack, kernel, device, p, trace, depth);
  if (e.kind === "vxlan" && e.frame && e.frame.dst !== device.mac)
    // The inner frame is for another MAC: the device's stack drops it as PACKET_OTHERHOST.
    return dropped(kernel, `${device.name}: inner frame for ${e.frame.dst}, not ${device.mac}`, trace);
  const inner = decapsulate(p)!;
  trace?.hops.push({
    host: kernel.name,
    stage: "decapsulate",
    detail: `${device.name}: ${e.kind === "vxlan" ? `VXLAN vni ${e.vni}` : "IPIP"} from ${formatIpv4(p.src)}`,
    inIface: device.name,
  });
  stack.tap?.(kernel, device.name, "in", inner, e.kind === "vxlan" && e.frame ? e.frame : NO_FRAME);
  return stack.receiveOn(kernel, device.name, inner, trace, depth + 1);
}

function wireguardReceive(
  stack: TunnelStack,
  kernel: Kernel,
  link: Link,
  p: Packet,
  trace: Trace | undefined,
  depth: number,
): Delivery {
  const wg = link.wireguard!;
  const e = p.encapsulated;
  if (e?.kind !== "wireguard") return dropped(kernel, `${link.name}: not a WireGuard message`, trace);
  const from = `${formatIpv4(p.src)}:${p.sport}`;
  // A message can be opened only with the private key whose public key the sender used, and it names a peer
  // only if the sender's static key is one of ours.
  const peer = wg.peers.find((candidate) => candidate.publicKey === e.sender);
  if (e.receiver !== wg.derivedPublicKey || !peer)
    return dropped(kernel, `${link.name}: message from ${from} does not authenticate (unknown key)`, trace);
  peer.rxBytes += p.len - 28;
  if (e.messageType === 1) return answerInitiation(stack, kernel, link, wg, peer, p, trace, depth);
  if (e.messageType === 2) {
    peer.handshakeAt = stack.now;
    trace?.hops.push({
      host: kernel.name,
      stage: "handshake",
      detail: `${link.name}: handshake response from ${from}`,
    });
    return { kind: "delivered", kernel, packet: p };
  }
  if (!sessionUp(peer, stack.now))
    return dropped(kernel, `${link.name}: data from ${from} without a session`, trace);
  const inner = decapsulate(p)!;
  // Cryptokey routing: the inner source must be one of the sending peer's allowed IPs.
  if (peerForAddress(wg, inner.src) !== peer)
    return dropped(
      kernel,
      `${link.name}: ${formatIpv4(inner.src)} is not an allowed IP of peer ${from}`,
      trace,
    );
  peer.endpoint = { ip: p.src, port: p.sport };
  trace?.hops.push({
    host: kernel.name,
    stage: "decapsulate",
    detail: `${link.name}: WireGuard data from peer ${from}`,
    inIface: link.name,
  });
  stack.tap?.(kernel, link.name, "in", inner, NO_FRAME);
  return stack.receiveOn(kernel, link.name, inner, trace, depth + 1);
}

function answerInitiation(
  stack: TunnelStack,
  kernel: Kernel,
  link: Link,
  wg: WireguardDevice,
  peer: WireguardPeer,
  p: Packet,
  trace: Trace | undefined,
  depth: number,
): Delivery {
  peer.handshakeAt = stack.now;
  peer.endpoint = { ip: p.src, port: p.sport };
  trace?.hops.push({
    host: kernel.name,
    stage: "handshake",
    detail: `${link.name}: handshake initiation from ${formatIpv4(p.src)}:${p.sport}, responding`,
  });
  const response = wireguardMessage(
    { type: 2, sender: wg.derivedPublicKey, receiver: peer.publicKey },
    { src: 0, sport: wg.listenPort, dst: p.src, dport: p.sport, mark: wg.fwmark },
  );
  peer.txBytes += response.len - 28;
  stack.sendFromHost(kernel, response, trace, depth + 1);
  return { kind: "delivered", kernel, packet: p };
}
