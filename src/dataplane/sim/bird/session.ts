/**
 * BGP sessions over the emulated network: whether a session can come up (the TCP connection to port 179
 * through netfilter and routing, both ends configured for each other, AS numbers agreeing, direct/multihop
 * and TTL security), and its state on the virtual clock (proto/bgp/bgp.c's FSM, reduced to what `show
 * protocols` shows: Idle, Connect, Active, Established, the hold timer and the last error).
 *
 * What is modelled: one probe per session and converge (the active side's SYN must be delivered to a listening
 * socket and its SYN-ACK must get back; either side may be the active one unless `passive on`); a new session
 * is Established at the moment it is first seen configured and reachable (BIRD's connect delay and OPEN
 * exchange are not charged to the clock); a session that loses connectivity stays Established until the hold
 * timer expires, counted from when the loss was first seen; a configuration mismatch fails the session at
 * once. Not modelled: keepalive traffic, graceful restart, collisions, MD5 passwords (both ends' must match).
 */
import type { Kernel } from "../kernel.ts";
import type { Network } from "../network.ts";
import { probe } from "../probe.ts";
import type { BgpProtocol } from "./types.ts";

export type BgpState = "Idle" | "Connect" | "Active" | "OpenSent" | "OpenConfirm" | "Established";

/** One end of a BGP session: a `protocol bgp` of one host's speaker. */
export interface BgpEnd {
  host: string;
  kernel: Kernel;
  proto: BgpProtocol;
  routerId: number;
  /** The address the session's TCP socket is bound to (`source address`, else the kernel's choice). */
  localIp?: number;
  /** The other end, when the session carries routes (Established, or within the hold time after loss). */
  peer?: BgpEnd;
  state: SessionState;
}

export interface SessionState {
  bgpState: BgpState;
  since: number;
  lostAt?: number;
  error?: string;
  /** While the connection is being made (connect delay, then TCP and OPEN): when it will be Established. */
  upAt?: number;
}

/** The saved view of one end, from the previous command. */
export interface PriorState {
  state: string;
  since: number;
  lostAt?: number;
  error?: string;
  upAt?: number;
}

/** What a connection attempt found. */
interface Attempt {
  ok: boolean;
  /** BIRD's socket error text, when the attempt was answered with an error. */
  error?: string;
}

function ibgp(p: BgpProtocol): boolean {
  return p.localAs === p.neighbor.as;
}

/** BIRD: eBGP sessions are direct unless `multihop`; iBGP sessions are multihop by default. */
function hopLimit(p: BgpProtocol): number {
  if (p.multihop === true) return 64;
  if (typeof p.multihop === "number") return p.multihop;
  return ibgp(p) ? 64 : 1;
}

/** The source address the kernel would choose for a connection to `dst`. */
export function kernelSource(kernel: Kernel, dst: number): number | undefined {
  const route = kernel.main.lookup(dst);
  if (!route) return undefined;
  if (route.src !== undefined) return route.src;
  const dev = route.nexthops[0]?.dev;
  return dev ? kernel.sourceFor(dev, dst) : undefined;
}

function onConnectedNet(kernel: Kernel, ip: number): boolean {
  return kernel.addresses.some((a) => a.dev !== "lo" && a.len < 32 && (a.ip ^ ip) >>> (32 - a.len) === 0);
}

/** The active side's connection: the SYN delivered to a listener within the hop limit, the SYN-ACK back. */
function connect(net: Network, from: BgpEnd): Attempt {
  const p = from.proto;
  const r = probe(net, from.kernel, "tcp", p.neighbor.ip, p.neighbor.port ?? 179, {}, from.localIp ?? 0);
  const req = r.request;
  if (req.kind === "unreachable")
    return { ok: false, error: req.reason === "host" ? "No route to host" : "Network is unreachable" };
  if (req.kind === "rejected")
    return {
      ok: false,
      error: /port|tcp-reset|prohibit/.test(req.with) ? "Connection refused" : "No route to host",
    };
  if (req.kind === "dropped") return { ok: false };
  if (r.answer?.kind === "reset")
    return r.reply?.kind === "delivered" ? { ok: false, error: "Connection refused" } : { ok: false };
  if (r.reply?.kind !== "delivered") return { ok: false };
  const hops = 1 + (64 - (req.packet.ttl ?? 64));
  if (hops > hopLimit(p)) return { ok: false };
  return { ok: true };
}

/**
 * Decides a session's outcome for both ends at `now` and sets their states. `b` is the protocol on the
 * neighbour's speaker that names `a`'s address as its neighbour, if there is one.
 */
export function runSession(
  net: Network,
  now: number,
  a: BgpEnd,
  b: BgpEnd | undefined,
  prior: (end: BgpEnd) => PriorState | undefined,
): void {
  const pa = a.proto;
  // Direct sessions wait for the neighbour to appear on a connected network (BIRD: Idle).
  if (hopLimit(pa) === 1 && !onConnectedNet(a.kernel, pa.neighbor.ip)) {
    settle(a, b, now, prior(a), { up: false, bgpState: "Idle" });
    if (b) settle(b, a, now, prior(b), { up: false, bgpState: b.proto.passive ? "Active" : "Connect" });
    return;
  }
  let attempt: Attempt = { ok: false };
  if (!pa.passive) attempt = connect(net, a);
  if (!attempt.ok && b && !b.proto.passive) {
    const back = connect(net, b);
    if (back.ok || !attempt.error) attempt = back;
  }
  if (!b) {
    // The neighbour's BIRD has no protocol for us: it refuses the connection, and a session it had is ceased.
    const p = prior(a);
    // A passive end learns of it through the established connection itself.
    if (p?.state === "Established" && pa.passive) attempt = connect(net, a);
    if (attempt.ok && p?.state === "Established") {
      settle(a, undefined, now, p, {
        up: false,
        bgpState: "Active",
        error: "Received: Peer de-configured",
        immediate: true,
      });
      return;
    }
    const error = attempt.ok
      ? "Socket: Connection closed"
      : attempt.error
        ? `Socket: ${attempt.error}`
        : undefined;
    settle(a, undefined, now, p, { up: false, bgpState: pa.passive || error ? "Active" : "Connect", error });
    return;
  }
  const pb = b.proto;
  // TTL security on one end only: that end wants TTL 255 - hops, the other sends 1 (direct) or its multihop
  // limit, so the SYN is dropped by the socket's minimum TTL and nothing comes up.
  if (attempt.ok && pa.ttlSecurity !== pb.ttlSecurity) attempt = { ok: false };
  if (!attempt.ok) {
    const error = attempt.error ? `Socket: ${attempt.error}` : undefined;
    const waiting = (p: BgpProtocol): BgpState => (p.passive || error ? "Active" : "Connect");
    settle(a, b, now, prior(a), { up: false, bgpState: waiting(pa), error });
    settle(b, a, now, prior(b), { up: false, bgpState: waiting(pb), error });
    return;
  }
  // OPEN exchange: each side checks the peer's AS against its `neighbor … as`.
  const aBad = pa.neighbor.as !== pb.localAs;
  const bBad = pb.neighbor.as !== pa.localAs;
  if (aBad || bBad) {
    const errFor = (bad: boolean) => (bad ? "BGP Error: Bad peer AS" : "Received: Bad peer AS");
    settle(a, b, now, prior(a), { up: false, bgpState: "Idle", error: errFor(aBad), immediate: true });
    settle(b, a, now, prior(b), { up: false, bgpState: "Idle", error: errFor(bBad), immediate: true });
    return;
  }
  // One TCP connection makes the session, so both ends come up together: when the first active end connects,
  // after its connect delay (a fresh protocol) or its connect retry time (after a failure).
  let pa0 = prior(a);
  let pb0 = prior(b);
  // One end was up and the other is new: the peer's protocol was replaced, which closed the old session.
  const reset: PriorState = { state: "Active", since: now, error: "Received: Peer de-configured" };
  if (pa0?.state === "Established" && pb0?.state !== "Established") pa0 = reset;
  else if (pb0?.state === "Established" && pa0?.state !== "Established") pb0 = reset;
  const connectsAt = (end: BgpEnd, prev: PriorState | undefined): number => {
    if (end.proto.passive) return Number.POSITIVE_INFINITY;
    if (prev?.state === "Established") return prev.since;
    if (prev?.upAt !== undefined) return prev.upAt;
    const fresh = prev === undefined || (prev.state === "Idle" && !prev.error);
    return fresh
      ? (prev?.since ?? now) + end.proto.connectDelayTime * 1000
      : now + end.proto.connectRetryTime * 1000;
  };
  const upAt = Math.min(connectsAt(a, pa0), connectsAt(b, pb0));
  settle(a, b, now, pa0, { up: true, upAt });
  settle(b, a, now, pb0, { up: true, upAt });
}

/** Marks two ends whose session is lost but within its hold time (or still up) as carrying routes. */
export function linkIfHeld(a: BgpEnd, b: BgpEnd | undefined): void {
  if (b && a.state.bgpState === "Established" && b.state.bgpState === "Established") {
    a.peer = b;
    b.peer = a;
  }
}

interface Outcome {
  up: boolean;
  bgpState?: BgpState;
  error?: string;
  /** For a reachable session: when it is (or will be) Established. */
  upAt?: number;
  /** A configuration error takes the session down at once (BIRD restarts the protocol on reconfiguration). */
  immediate?: boolean;
}

/**
 * One end's state at `now` from its previous state and what the network allows now. A fresh protocol is Idle
 * until its connect delay has passed; a reachable session is then Established from that moment (the TCP and
 * OPEN exchange take no virtual time). An Established session that loses its peer stays up until the hold
 * timer expires, counted from when the loss was first seen: the hold time the OPENs negotiated, the lower of
 * the two ends' (0: no hold timer, the session is never timed out).
 */
function settle(
  end: BgpEnd,
  other: BgpEnd | undefined,
  now: number,
  prev: PriorState | undefined,
  o: Outcome,
): void {
  const wasUp = prev?.state === "Established";
  if (o.up) {
    if (wasUp) {
      end.state = { bgpState: "Established", since: prev.since };
      return;
    }
    const upAt = o.upAt!;
    if (now >= upAt) {
      end.state = { bgpState: "Established", since: upAt };
      return;
    }
    end.state = prev
      ? {
          bgpState: prev.state as BgpState,
          since: prev.since,
          ...(prev.error ? { error: prev.error } : {}),
          upAt,
        }
      : { bgpState: "Idle", since: now, upAt };
    return;
  }
  if (wasUp && !o.immediate) {
    const lostAt = prev.lostAt ?? now;
    const hold = Math.min(end.proto.holdTime, other?.proto.holdTime ?? end.proto.holdTime) * 1000;
    if (hold === 0 || now - lostAt < hold) {
      end.state = { bgpState: "Established", since: prev.since, lostAt };
      return;
    }
    end.state = {
      bgpState: o.bgpState === "Idle" ? "Idle" : "Active",
      since: lostAt + hold,
      error: "BGP Error: Hold timer expired",
    };
    return;
  }
  // A fresh protocol shows Idle until its connect delay has passed; only then does the failure show.
  const state = o.bgpState ?? "Active";
  const fresh = prev === undefined || (prev.state === "Idle" && !prev.error);
  if (fresh && !o.immediate) {
    const start = prev?.since ?? now;
    const failAt = start + end.proto.connectDelayTime * 1000;
    end.state =
      now < failAt
        ? { bgpState: "Idle", since: start }
        : { bgpState: state, since: failAt, ...(o.error ? { error: o.error } : {}) };
    return;
  }
  const same = prev !== undefined && !wasUp && prev.state === state;
  const error = o.error ?? (same ? prev.error : undefined);
  end.state = { bgpState: state, since: same ? prev.since : now, ...(error ? { error } : {}) };
}
