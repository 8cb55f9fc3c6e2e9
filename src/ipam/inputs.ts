import { type IpamKv, isCode } from "./kv.ts";

/**
 * What IPAM reads besides blocks and affinities (the IP pools, IPReservations, the IPAMConfiguration, Node
 * labels), kept between operations for IPAM's lean path. Each value is stored under the key it was read from:
 * a list under its prefix (which ends in "/"), one object under its own key. A value is good until the store's
 * history shows a write to that key or, for a list, to a key directly under its prefix: `invalidate` reads
 * that history and drops exactly those values (everything, if the history was compacted).
 */
export class InputMemo {
  private readonly values = new Map<string, unknown>();
  /**
   * Moved on whenever the store is found to have changed: a value whose read began under an older generation
   * may predate that change, so the caller does not remember it.
   */
  generation = 0;

  constructor(private readonly kv: IpamKv) {}

  get(key: string): unknown {
    return this.values.get(key);
  }

  has(key: string): boolean {
    return this.values.has(key);
  }

  set(key: string, value: unknown): void {
    this.values.set(key, value);
  }

  clear(): void {
    this.values.clear();
  }

  /** Drops every value a write after revision `since` may have changed. */
  async invalidate(since: number): Promise<void> {
    if (this.values.size === 0) return;
    let events: Awaited<ReturnType<IpamKv["history"]>>;
    try {
      events = await this.kv.history("", since);
    } catch (e) {
      if (!isCode(e, "Compacted")) throw e;
      this.values.clear();
      return;
    }
    for (const e of events) {
      this.values.delete(e.key);
      this.values.delete(e.key.slice(0, e.key.lastIndexOf("/") + 1));
    }
  }
}
