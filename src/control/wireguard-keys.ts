/**
 * A node's WireGuard key pair. Felix generates a random private key on the node and publishes only the public key
 * (Node `status.wireguardPublicKey`). tortie has no node disk to keep a private key on, so it derives the key from
 * the Node's uid: the same Node keeps its key across commands and dataplanes, and a re-created Node gets a new one.
 * Anyone who can read the store can derive it; the keys protect a simulation, not data.
 */
import { createHash, createPrivateKey, createPublicKey } from "node:crypto";

/** PKCS#8 DER prefix of a raw X25519 private key (RFC 8410). */
const X25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

export interface WireguardKeyPair {
  /** Base64, as `wg genkey` prints. */
  privateKey: string;
  /** Base64, as `wg pubkey` prints. */
  publicKey: string;
}

/** The key pair of the Calico Node with this uid (clamped as `wg genkey` clamps). */
export function wireguardKeyPair(nodeUid: string): WireguardKeyPair {
  const key = createHash("sha256").update(`tortie wireguard private key\0${nodeUid}`).digest();
  key[0]! &= 248;
  key[31]! &= 127;
  key[31]! |= 64;
  const der = Buffer.concat([X25519_PKCS8_PREFIX, key]);
  const spki = createPublicKey(createPrivateKey({ key: der, format: "der", type: "pkcs8" })).export({
    format: "der",
    type: "spki",
  });
  return { privateKey: key.toString("base64"), publicKey: spki.subarray(-32).toString("base64") };
}
