import {
  DNS_TYPES,
  DnsFormatError,
  type DnsMessage,
  decodeDnsMessage,
  dnsQueryMessage,
  encodeDnsMessage,
  RCODE,
} from "../apps/index.ts";
import { type Kernel, type Network, udpExchange } from "../dataplane/sim/index.ts";

/** A namespace's /etc/resolv.conf. */
export interface ResolverConfig {
  search: string[];
  nameserver: number;
  ndots: number;
}

/** glibc's defaults: `options timeout:5 attempts:2`. */
const TIMEOUT_MS = 5000;
const ATTEMPTS = 2;

export type QueryOutcome =
  | { ok: true; message: DnsMessage; elapsedMs: number }
  | { ok: false; error: "timeout" | "unreachable" | "malformed"; elapsedMs: number };

/** One query over UDP to `server`, retried as glibc retries an unanswered one. */
export function queryServer(
  net: Network,
  k: Kernel,
  server: number,
  name: string,
  type: number,
  port = 53,
  deadline = Number.POSITIVE_INFINITY,
): QueryOutcome {
  const start = net.now;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const left = deadline - net.now;
    if (left <= 0) break;
    const id = Math.floor(net.random() * 65536);
    const r = udpExchange(net, k, server, port, encodeDnsMessage(dnsQueryMessage(id, name, type)), {
      timeoutMs: Math.min(TIMEOUT_MS, left),
    });
    if (!r.ok) {
      if (r.error !== "timeout") return { ok: false, error: "unreachable", elapsedMs: net.now - start };
      continue;
    }
    try {
      const message = decodeDnsMessage(r.response);
      if (message.id === id) return { ok: true, message, elapsedMs: net.now - start };
    } catch (e) {
      if (!(e instanceof DnsFormatError)) throw e;
      return { ok: false, error: "malformed", elapsedMs: net.now - start };
    }
  }
  return { ok: false, error: "timeout", elapsedMs: net.now - start };
}

/** The names a stub resolver tries, in order: the search list first when the name has fewer than ndots dots. */
export function candidateNames(name: string, conf: ResolverConfig): string[] {
  if (name.endsWith(".")) return [name];
  const dots = name.split(".").length - 1;
  const searched = conf.search.map((s) => `${name}.${s.replace(/\.$/, "")}.`);
  return dots < conf.ndots ? [...searched, `${name}.`] : [`${name}.`, ...searched];
}

export type Resolution =
  | { ok: true; name: string; message: DnsMessage }
  | { ok: false; error: "not-found" | "timeout"; last?: DnsMessage };

/**
 * getaddrinfo's walk over the search list: the first candidate whose answer has records of `type` wins;
 * NXDOMAIN and NODATA move on to the next candidate; a server that never answers ends the walk.
 */
export function resolveName(
  net: Network,
  k: Kernel,
  conf: ResolverConfig,
  name: string,
  type: number = DNS_TYPES.A,
  budgetMs?: number,
): Resolution {
  // The caller's time limit (curl's --connect-timeout covers the lookup) cuts the resolver's own retries short.
  const deadline = budgetMs === undefined ? Number.POSITIVE_INFINITY : net.now + budgetMs;
  let last: DnsMessage | undefined;
  for (const candidate of candidateNames(name, conf)) {
    const r = queryServer(net, k, conf.nameserver, candidate, type, 53, deadline);
    if (!r.ok) return { ok: false, error: "timeout", ...(last ? { last } : {}) };
    last = r.message;
    if (r.message.rcode === RCODE.NOERROR && r.message.answers.some((a) => a.type === type))
      return { ok: true, name: candidate, message: r.message };
  }
  return { ok: false, error: "not-found", ...(last ? { last } : {}) };
}
