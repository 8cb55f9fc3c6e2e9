import { mix32 } from "./hash.ts";
import type { Kernel } from "./kernel.ts";
import { type Packet, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type TcpOption } from "./netfilter/index.ts";
import type { Network } from "./network.ts";

/** Linux's window scale for a 6 MB receive buffer, and the bytes a SYN's options take (mss, sackOK, TS, wscale). */
const WSCALE = 7;
const SYN_OPTIONS = 20;
const TS_OPTIONS = 12;

/** The MSS a namespace advertises towards `peer`: the route's device MTU less 40 (65495 over loopback). */
export function advertisedMss(k: Kernel, peer: number): number {
  if (k.isLocal(peer)) return 65495;
  const dev = k.main.lookup(peer)?.nexthops[0]?.dev;
  const mtu = (dev && k.links.get(dev)?.mtu) || 1500;
  return mtu - 40;
}

/** tcp_select_initial_window: 65535 rounded down to a multiple of the MSS (less the timestamp option). */
function initialWindow(mss: number): number {
  return Math.floor(65535 / mss) * mss;
}

interface Side {
  isn: number;
  /** Next sequence number to send. */
  next: number;
  ipId: number;
  tsOffset: number;
  lastTs: number;
  synWindow: number;
  sentFin: boolean;
  gotFin: boolean;
}

/**
 * The header fields of one TCP conversation's segments, as Linux fills them: ISNs and timestamp offsets from a
 * hash of the tuple and the clock (secure_tcp_seq), SYN options (mss, sackOK, TS, nop, wscale 7), windows from
 * the MSS, timestamps in milliseconds, per-socket IP ids (0 on a SYN-ACK and from a TIME_WAIT socket), DF set.
 */
export class TcpConversation {
  private readonly sides: Record<"client" | "server", Side>;

  constructor(
    private readonly net: Network,
    tuple: { src: number; dst: number; sport: number; dport: number },
  ) {
    const side = (salt: number): Side => {
      const isn = mix32(salt, net.now, tuple.src, tuple.dst, tuple.sport, tuple.dport);
      return {
        isn,
        next: isn,
        ipId: mix32(salt + 1, isn) & 0xffff,
        tsOffset: mix32(salt + 2, isn),
        lastTs: 0,
        synWindow: 0,
        sentFin: false,
        gotFin: false,
      };
    };
    this.sides = { client: side(1), server: side(11) };
  }

  /** Fields for a segment `from` one side carrying `len` IP bytes (headers included) and `text` as payload. */
  fields(from: "client" | "server", flags: number, len: number, mss: number, text?: string): Partial<Packet> {
    const me = this.sides[from];
    const peer = this.sides[from === "client" ? "server" : "client"];
    const ts = (Math.floor(this.net.now) + me.tsOffset) >>> 0;
    let options: TcpOption[];
    let seq = me.next;
    let win: number;
    if (flags & TCP_RST) {
      // tcp_v4_send_reset answering a SYN: no options, no window.
      options = [];
      win = 0;
      seq = flags & TCP_ACK ? 0 : seq;
    } else if (flags & TCP_SYN) {
      seq = me.isn;
      me.synWindow = initialWindow(flags & TCP_ACK ? mss - TS_OPTIONS : mss);
      win = me.synWindow;
      options = [
        { kind: "mss", value: mss },
        { kind: "sackOK" },
        { kind: "TS", val: ts, ecr: flags & TCP_ACK ? peer.lastTs : 0 },
        { kind: "nop" },
        { kind: "wscale", value: WSCALE },
      ];
    } else {
      win = Math.round(me.synWindow / (1 << WSCALE));
      options = [{ kind: "nop" }, { kind: "nop" }, { kind: "TS", val: ts, ecr: peer.lastTs }];
    }
    const headers = 40 + (flags & TCP_RST ? 0 : flags & TCP_SYN ? SYN_OPTIONS : TS_OPTIONS);
    const payloadLength = Math.max(0, len - headers);
    const ack = flags & TCP_ACK ? peer.next : 0;
    if (!(flags & TCP_RST)) {
      me.next = (seq + payloadLength + (flags & TCP_SYN ? 1 : 0) + (flags & TCP_FIN ? 1 : 0)) >>> 0;
      me.lastTs = ts;
    }
    if (flags & TCP_FIN) {
      me.sentFin = true;
      peer.gotFin = true;
    }
    const timeWait = me.sentFin && me.gotFin && !(flags & TCP_FIN);
    let ipId = 0;
    if (!(flags & TCP_RST) && !(flags & TCP_SYN && flags & TCP_ACK) && !timeWait) {
      ipId = me.ipId;
      me.ipId = (me.ipId + 1) & 0xffff;
    }
    const fields: Partial<Packet> = {
      ttl: 64,
      ipId,
      df: true,
      tcp: { seq: seq >>> 0, ack: ack >>> 0, win, options },
    };
    if (text) fields.payload = text;
    return fields;
  }
}
