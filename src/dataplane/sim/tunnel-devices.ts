/** The state of the tunnel devices a namespace may hold: VXLAN settings and fdb, WireGuard keys and peers. */
import { createPrivateKey, createPublicKey } from "node:crypto";
import type { Ipv4Prefix } from "./ipv4.ts";

/** PKCS#8 DER prefix of a raw X25519 private key (RFC 8410). */
const X25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

/** `wg pubkey`: the base64 Curve25519 public key of a base64 private key; undefined when it is not one. */
export function wireguardPublicKey(privateKey: string): string | undefined {
  const raw = Buffer.from(privateKey, "base64");
  if (raw.length !== 32) return undefined;
  const key = createPrivateKey({
    key: Buffer.concat([X25519_PKCS8_PREFIX, raw]),
    format: "der",
    type: "pkcs8",
  });
  return createPublicKey(key).export({ format: "der", type: "spki" }).subarray(-32).toString("base64");
}

/** `ip link add NAME type vxlan id VNI local IP dev PARENT dstport PORT nolearning`. */
export interface VxlanDevice {
  vni: number;
  port: number;
  local: number;
  parent: string;
}

/** `bridge fdb replace MAC dev DEV dst IP self permanent`: the VTEP behind a MAC. */
export interface FdbEntry {
  dev: string;
  mac: string;
  dst: number;
}

/** One WireGuard peer: its configuration and what `wg show` reports of it. */
export interface WireguardPeer {
  publicKey: string;
  endpoint: { ip: number; port: number };
  allowedIps: Ipv4Prefix[];
  /** The allowed IPs as configured (`wg show` prints them in order). */
  allowedIpsText: string[];
  /** When the last handshake completed (virtual-clock ms); absent: never. */
  handshakeAt?: number;
  /** Bytes of WireGuard messages received from and sent to the peer (`transfer:`). */
  rxBytes: number;
  txBytes: number;
}

export interface WireguardDevice {
  privateKey: string;
  publicKey: string;
  /**
   * The public key `privateKey` gives: the static key the device's handshakes carry (a device configured with a
   * `publicKey` that is not its own completes no handshake with peers that were told that one).
   */
  derivedPublicKey: string;
  listenPort: number;
  fwmark: number;
  peers: WireguardPeer[];
}

/** The peer whose allowed IPs hold `ip` most specifically (WireGuard's cryptokey routing). */
export function peerForAddress(device: WireguardDevice, ip: number): WireguardPeer | undefined {
  let best: WireguardPeer | undefined;
  let bestLen = -1;
  for (const peer of device.peers)
    for (const a of peer.allowedIps)
      if (a.len > bestLen && (ip & a.mask) >>> 0 === a.addr) {
        best = peer;
        bestLen = a.len;
      }
  return best;
}
