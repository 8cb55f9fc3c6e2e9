import { sha256Base32Prefix } from "../../lib/index.ts";

/**
 * kube-proxy's chain names (pkg/proxy/iptables/proxier.go portProtoHash, servicePortEndpointChainName;
 * pkg/proxy/nftables/proxier.go hashAndTruncate). The service port *name* is hashed, not its number.
 */

/** `ns/svc:port` (`ns/svc` for an unnamed port): ServicePortName.String(). */
export function servicePortName(namespace: string, name: string, portName: string): string {
  return portName === "" ? `${namespace}/${name}` : `${namespace}/${name}:${portName}`;
}

/** `ip:port`, with IPv6 in brackets (net.JoinHostPort). */
export function joinHostPort(ip: string, port: number): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function portProtoHash(spn: string, protocol: string): string {
  return sha256Base32Prefix(spn + protocol.toLowerCase(), 16);
}

export interface ServiceChainNames {
  /** KUBE-SVC-: endpoints for the Cluster traffic policy. */
  cluster: string;
  /** KUBE-SVL-: endpoints for the Local traffic policy. */
  local: string;
  /** KUBE-EXT-: entry for NodePort, external IP and load-balancer traffic. */
  external: string;
  /** KUBE-FW-: loadBalancerSourceRanges filter. */
  firewall: string;
}

export function serviceChainNames(spn: string, protocol: string): ServiceChainNames {
  const hash = portProtoHash(spn, protocol);
  return {
    cluster: `KUBE-SVC-${hash}`,
    local: `KUBE-SVL-${hash}`,
    external: `KUBE-EXT-${hash}`,
    firewall: `KUBE-FW-${hash}`,
  };
}

export function endpointChainName(spn: string, protocol: string, endpoint: string): string {
  return `KUBE-SEP-${sha256Base32Prefix(spn + protocol.toLowerCase() + endpoint, 16)}`;
}

/** Chains kube-proxy owns per service; stale ones are flushed and deleted. */
export function isServiceChainName(chain: string): boolean {
  return /^KUBE-(SVC|SVL|EXT|FW|SEP|XLB)-/.test(chain);
}

/** nftables: first 8 base32 chars of sha256(name), `-`, the name, cut to 112 characters with `...`. */
export function hashAndTruncate(name: string): string {
  const full = `${sha256Base32Prefix(name, 8)}-${name}`;
  return full.length > 112 ? `${full.slice(0, 109)}...` : full;
}

/** `ns/svc/proto/portName`: the base of the nftables per-service chain names. */
export function nftServiceChainBase(
  namespace: string,
  name: string,
  protocol: string,
  portName: string,
): string {
  return hashAndTruncate(`${namespace}/${name}/${protocol.toLowerCase()}/${portName}`);
}

/** `ns/svc/proto/portName__ip/port` with IPv6 `:` written as `.`. */
export function nftEndpointChainBase(
  namespace: string,
  name: string,
  protocol: string,
  portName: string,
  ip: string,
  port: number,
): string {
  return hashAndTruncate(
    `${namespace}/${name}/${protocol.toLowerCase()}/${portName}__${ip.replaceAll(":", ".")}/${port}`,
  );
}
