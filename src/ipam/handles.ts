import { type ApiObject, findKind, keyFor } from "../api/index.ts";
import { TortieError } from "../lib/index.ts";
import { DATASTORE_RETRIES, HAND_OVER, type IpamKv, isCode, type KvEntry, withSpec } from "./kv.ts";
import { handleName } from "./names.ts";

const IPAM_HANDLE = findKind("projectcalico.org/v3", "IPAMHandle")!;

/** Where an IPAMHandle lives. */
export function handleKey(handleId: string): string {
  return keyFor(IPAM_HANDLE, handleName(handleId));
}

/**
 * IPAMHandle bookkeeping: how many addresses a handle holds in each block, every change a CAS as in Calico's
 * incrementHandle/decrementHandle. Calico reads the handle before each write; the lean path writes first (a
 * create, or an update of the handle it wrote last) and reads only when that write loses.
 */
export class Handles {
  private last: KvEntry | undefined;

  constructor(
    private readonly kv: IpamKv,
    private readonly lean: boolean,
    /** A new IPAMHandle object with this name and spec. */
    private readonly newHandle: (name: string, spec: unknown) => ApiObject,
    /** Told of every write (the lean path's revision bookkeeping). */
    private readonly wrote: (e: KvEntry) => void,
  ) {}

  private spec(handleId: string, blockCidr: string, n: number) {
    return { handleID: handleId, block: { [blockCidr]: n }, deleted: false };
  }

  private plus(cur: KvEntry, blockCidr: string, n: number): ApiObject {
    const obj = cur.value as ApiObject;
    const block = { ...obj.spec.block, [blockCidr]: (obj.spec.block[blockCidr] ?? 0) + n };
    return withSpec(obj, { ...obj.spec, block });
  }

  private done(written: KvEntry): void {
    this.last = written;
    this.wrote(written);
  }

  async increment(handleId: string, blockCidr: string, n: number): Promise<void> {
    const key = handleKey(handleId);
    if (this.lean) {
      const last = this.last?.key === key ? this.last : undefined;
      if (await this.tryIncrement(key, handleId, blockCidr, n, last)) return;
    }
    for (let i = 0; i < DATASTORE_RETRIES; i++)
      if (await this.tryIncrement(key, handleId, blockCidr, n, await this.kv.get(key))) return;
    throw new TortieError("Conflict", "Max retries hit - excessive concurrent IPAM requests");
  }

  /** One CAS write of the handle as `cur` has it (absent: a create); false when another writer got there first. */
  private async tryIncrement(
    key: string,
    handleId: string,
    blockCidr: string,
    n: number,
    cur: KvEntry | undefined,
  ): Promise<boolean> {
    try {
      this.done(
        cur
          ? await this.kv.update(key, this.plus(cur, blockCidr, n), cur.modRevision, HAND_OVER)
          : await this.kv.create(
              key,
              this.newHandle(handleName(handleId), this.spec(handleId, blockCidr, n)),
              HAND_OVER,
            ),
      );
      return true;
    } catch (e) {
      if (!isCode(e, "Conflict") && !isCode(e, "AlreadyExists") && !isCode(e, "NotFound")) throw e;
      return false;
    }
  }

  async decrement(handleId: string, blockCidr: string, n: number): Promise<void> {
    const key = handleKey(handleId);
    for (let i = 0; i < DATASTORE_RETRIES; i++) {
      const cur = await this.kv.get(key);
      if (!cur) return;
      const obj = cur.value as ApiObject;
      const block: Record<string, number> = { ...obj.spec.block };
      const left = (block[blockCidr] ?? 0) - n;
      if (left > 0) block[blockCidr] = left;
      else delete block[blockCidr];
      try {
        this.done(
          Object.keys(block).length === 0
            ? await this.kv.delete(key, cur.modRevision)
            : await this.kv.update(key, withSpec(obj, { ...obj.spec, block }), cur.modRevision, HAND_OVER),
        );
        return;
      } catch (e) {
        if (!isCode(e, "Conflict") && !isCode(e, "NotFound")) throw e;
      }
    }
    throw new TortieError("Conflict", "Max retries hit - excessive concurrent IPAM requests");
  }
}
