/**
 * Differential tests for the packet path's fast paths (issue 15): each is compared with a plain, slow model of
 * the same thing on the same inputs, so the fast path cannot drift from it.
 * - conntrack's hash (chained slots, 30-bit keys) against a list scanned in order;
 * - netfilter's cached jump targets against a namespace that never cached (a fresh restore of the same rules);
 * - a packet's fixed-shape copy against the spread copy it replaced;
 * - the untraced walk of a packet (no trace text, the namespace's context reused) against the traced one.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Conntrack, type ConntrackEntry, type Tuple, tupleHash } from "../../src/dataplane/sim/conntrack.ts";
import { Kernel } from "../../src/dataplane/sim/kernel.ts";
import { KernelMatchContext } from "../../src/dataplane/sim/match-context.ts";
import {
  Netfilter,
  type Packet,
  TCP,
  TCP_ACK,
  TCP_SYN,
  UDP,
} from "../../src/dataplane/sim/netfilter/index.ts";
import { copyPacket } from "../../src/dataplane/sim/packet-copy.ts";
import { tcpExchange, udpExchange } from "../../src/dataplane/sim/transport.ts";
import { MiniNet } from "./mini-net.ts";

/** A small seeded generator (xorshift32), so every run draws the same operations. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

interface Keyed {
  proto: number;
  t: Tuple;
}

/** Tuples whose hashes collide in pairs (found by a birthday search), plus ordinary ones. */
function tuplePool(random: () => number): Keyed[] {
  const byHash = new Map<number, Keyed>();
  const pool: Keyed[] = [];
  for (let i = 0; i < 200_000 && pool.length < 40; i++) {
    const k: Keyed = {
      proto: random() < 0.5 ? TCP : UDP,
      t: {
        src: (0x0a000000 + Math.floor(random() * 0x10000)) >>> 0,
        dst: (0xc6130000 + Math.floor(random() * 0x100)) >>> 0,
        sport: Math.floor(random() * 65536),
        dport: 80,
      },
    };
    const h = tupleHash(k.proto, k.t.src, k.t.sport, k.t.dst, k.t.dport);
    const other = byHash.get(h);
    if (other) pool.push(other, k);
    else byHash.set(h, k);
  }
  assert.ok(pool.length >= 20, "the search finds colliding tuples");
  for (let i = 0; i < 40; i++) pool.push([...byHash.values()][i]!);
  return pool;
}

/** The slow model: every direction of every confirmed connection in one list, scanned in order. */
class ListModel {
  readonly slots: { proto: number; t: Tuple; entry: ConntrackEntry; reply: boolean }[] = [];
  private same(a: Tuple, b: Tuple): boolean {
    return a.src === b.src && a.sport === b.sport && a.dst === b.dst && a.dport === b.dport;
  }
  insert(entry: ConntrackEntry, reply: boolean): void {
    const t = { ...(reply ? entry.reply : entry.orig) };
    const old = this.slots.find((s) => s.proto === entry.proto && this.same(s.t, t));
    if (old) {
      old.entry = entry;
      old.reply = reply;
    } else this.slots.push({ proto: entry.proto, t, entry, reply });
  }
  find(proto: number, t: Tuple): { entry: ConntrackEntry; reply: boolean } | undefined {
    return this.slots.find((s) => s.proto === proto && this.same(s.t, t));
  }
  remove(entry: ConntrackEntry): void {
    for (const t of [entry.orig, entry.reply])
      for (let i = this.slots.length - 1; i >= 0; i--)
        if (this.slots[i]!.entry === entry && this.same(this.slots[i]!.t, t)) this.slots.splice(i, 1);
  }
}

function tcpPacket(proto: number, t: Tuple, flags: number): Packet {
  return {
    src: t.src,
    dst: t.dst,
    proto,
    sport: t.sport,
    dport: t.dport,
    len: 60,
    mark: 0,
    tcpFlags: proto === TCP ? flags : 0,
    icmpType: 0,
    icmpCode: 0,
  };
}

test("conntrack's hash finds what a list scanned in order finds, colliding tuples and taken-over tuples included", () => {
  const random = rng(15);
  const pool = tuplePool(random);
  const ct = new Conntrack();
  const model = new ListModel();
  const live: ConntrackEntry[] = [];
  const now = 1000;
  for (let op = 0; op < 20_000; op++) {
    const r = random();
    const a = pool[Math.floor(random() * pool.length)]!;
    if (r < 0.35) {
      // A new connection whose reply tuple (after some NAT) is another pool tuple of the same protocol, reversed.
      const b = pool[Math.floor(random() * pool.length)]!;
      const entry = ct.newEntry(tcpPacket(a.proto, a.t, TCP_SYN));
      const leaving = tcpPacket(
        a.proto,
        { src: b.t.dst, dst: b.t.src, sport: b.t.dport, dport: b.t.sport },
        TCP_SYN,
      );
      entry.reply = { src: leaving.dst, dst: leaving.src, sport: leaving.dport, dport: leaving.sport };
      ct.confirm(entry, leaving, now);
      model.insert(entry, false);
      model.insert(entry, true);
      live.push(entry);
    } else if (r < 0.5 && live.length > 0) {
      const i = Math.floor(random() * live.length);
      const entry = live[i]!;
      live.splice(i, 1);
      ct.remove(entry);
      model.remove(entry);
    } else {
      const reversed = random() < 0.5;
      const t = reversed ? { src: a.t.dst, dst: a.t.src, sport: a.t.dport, dport: a.t.sport } : a.t;
      const got = ct.lookup(tcpPacket(a.proto, t, TCP_ACK), now);
      const want = model.find(a.proto, t);
      assert.equal(got?.entry, want?.entry, `lookup ${JSON.stringify(t)} at operation ${op}`);
      assert.equal(got?.reply, want?.reply);
      assert.equal(ct.inUse(a.proto, t.src, t.sport, t.dst, t.dport, now), want !== undefined);
    }
  }
  // Every tuple the model holds is found, and nothing else is.
  for (const s of model.slots) {
    const got = ct.lookup(tcpPacket(s.proto, s.t, TCP_ACK), now);
    assert.equal(got?.entry, s.entry);
    assert.equal(got?.reply, s.reply);
  }
  // An expired entry is dropped by the lookup that finds it, in both directions.
  const owned = model.slots.find((s) => !s.reply && live.includes(s.entry))!;
  const entry = owned.entry;
  assert.equal(ct.lookup(tcpPacket(entry.proto, owned.t, TCP_ACK), entry.expires), undefined);
  model.remove(entry);
  for (const s of model.slots) assert.equal(ct.lookup(tcpPacket(s.proto, s.t, TCP_ACK), now)?.entry, s.entry);
});

const BASE = `*mangle
:PREROUTING ACCEPT [0:0]
:cali-PREROUTING - [0:0]
:mark-a - [0:0]
-A PREROUTING -j cali-PREROUTING
-A cali-PREROUTING -p tcp -m tcp --dport 80 -j mark-a
-A cali-PREROUTING -g mark-a
-A mark-a -j MARK --set-xmark 0x1/0xffffffff
COMMIT
*raw
:PREROUTING ACCEPT [0:0]
:cali-PREROUTING - [0:0]
-A PREROUTING -j cali-PREROUTING
-A cali-PREROUTING -j MARK --set-xmark 0x10/0x10
COMMIT
`;

/** What a traversal of every hook's tables gives: verdicts, the mark, and every counter (iptables-save -c). */
function walk(nf: Netfilter, p: Packet): string {
  const ctx = new KernelMatchContext(new Kernel("k"), "eth0", "", "NEW", undefined, () => 0.5);
  const q = { ...p };
  const verdicts = (["raw", "mangle"] as const).map((t) => nf.traverse(t, "PREROUTING", q, ctx).verdict);
  return `${verdicts.join(",")} mark=${q.mark}\n${nf.save({ counters: true })}`;
}

test("jumps follow the chains as they are after each restore, as a namespace that never cached them does", () => {
  const cached = new Netfilter();
  cached.restore(BASE);
  const p = tcpPacket(TCP, { src: 0x0a000001, dst: 0x0a000002, sport: 1234, dport: 80 }, TCP_SYN);
  const q = { ...p, dport: 81 };
  walk(cached, p);
  walk(cached, q);
  const changes = [
    // The target chain declared again (a new chain object), with a different rule.
    "*mangle\n:mark-a - [0:0]\n-A mark-a -j MARK --set-xmark 0x2/0xffffffff\nCOMMIT\n",
    // A new chain, and the jump rule replaced to lead there.
    "*mangle\n:mark-b - [0:0]\n-A mark-b -j MARK --set-xmark 0x3/0xffffffff\n-D cali-PREROUTING -p tcp -m tcp --dport 80 -j mark-a\n-I cali-PREROUTING 1 -p tcp -m tcp --dport 80 -j mark-b\nCOMMIT\n",
    // The raw table's chain of the same name flushed: the same jump text in two tables leads to two chains.
    "*raw\n-F cali-PREROUTING\n-A cali-PREROUTING -j MARK --set-xmark 0x20/0x20\nCOMMIT\n",
  ];
  const applied: string[] = [BASE];
  for (const change of changes) {
    cached.restore(change, { noflush: true });
    applied.push(change);
    const fresh = new Netfilter();
    fresh.restore(BASE);
    for (const c of applied.slice(1)) fresh.restore(c, { noflush: true });
    // The verdicts and the mark one more packet each gets (counters differ: the fresh one saw fewer packets).
    for (const packet of [p, q]) {
      const want = walk(fresh, packet);
      const got = walk(cached, packet);
      assert.equal(got.split("\n")[0], want.split("\n")[0], `after ${JSON.stringify(change)}`);
    }
  }
  // A full restore (no --noflush) replaces every table: the old jumps lead nowhere any more.
  cached.restore(BASE);
  const fresh = new Netfilter();
  fresh.restore(BASE);
  assert.equal(walk(cached, p), walk(fresh, p));
});

test("a packet's fixed-shape copy holds what the spread copy held", () => {
  const full: Required<Packet> = {
    src: 1,
    dst: 2,
    proto: TCP,
    sport: 3,
    dport: 4,
    len: 5,
    mark: 6,
    tcpFlags: TCP_SYN,
    icmpType: 0,
    icmpCode: 0,
    ttl: 63,
    tos: 0xc0,
    ipId: 7,
    df: true,
    tcp: { seq: 1, ack: 2, win: 3, options: [{ kind: "sackOK" }] },
    payload: "GET /",
    icmpSeq: 9,
    inner: tcpPacket(UDP, { src: 5, dst: 6, sport: 7, dport: 8 }, 0),
    encapsulated: {
      kind: "ipip",
      packet: tcpPacket(TCP, { src: 9, dst: 10, sport: 11, dport: 12 }, TCP_ACK),
    },
  };
  assert.deepStrictEqual(copyPacket(full), { ...full });
  const bare = tcpPacket(TCP, { src: 1, dst: 2, sport: 3, dport: 4 }, TCP_ACK);
  const copy = copyPacket(bare);
  // Absent fields are present as undefined (one shape for every packet); every value is the spread's.
  assert.deepEqual(Object.keys(copy).sort(), Object.keys(full).sort());
  for (const [k, v] of Object.entries({ ...bare })) assert.equal(copy[k as keyof Packet], v);
  for (const k of Object.keys(copy)) if (!(k in bare)) assert.equal(copy[k as keyof Packet], undefined);
});

test("untraced packets take the same path as traced ones: deliveries, NAT, conntrack and counters agree", () => {
  const runs = [false, true].map((traced) => {
    const m = new MiniNet();
    m.rules(
      m.router,
      "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT\n-A FORWARD -p udp -j REJECT\nCOMMIT\n",
    );
    const trace = () => (traced ? { hops: [], rules: [], nat: [] } : undefined);
    const results: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      results.push(tcpExchange(m.net, m.client, 0x0a0000fe, 8080, `GET /${i}`, { trace: trace() }));
      results.push(udpExchange(m.net, m.client, 0x0a010001, 53, "q", { trace: trace() }));
    }
    return {
      results,
      conntrack: [m.client, m.router, m.server].map((k) => k.conntrack.list(m.net.now)),
      counters: m.router.netfilter.save({ counters: true }),
      capture: m.clientCapture,
    };
  });
  assert.deepStrictEqual(runs[0], runs[1]);
  // The UDP half reaches the router's REJECT (the refused path, RELATED answer included, is compared too).
  assert.ok(runs[0]!.results.some((r) => (r as { error?: string }).error === "refused"));
});
