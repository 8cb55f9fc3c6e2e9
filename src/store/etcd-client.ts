import { Agent, type IncomingMessage, request } from "node:http";
import { TortieError } from "../lib/index.ts";

/**
 * etcd v3's JSON gateway (`/v3/...` over HTTP, what `etcdctl` speaks as gRPC) through node:http: one POST per
 * request, and watches as a stream of newline-separated JSON responses. (Not fetch: its connection pool keeps a
 * finished command's process alive for seconds; node:http's keep-alive agent lets idle connections go.) Keys and values travel as base64, int64
 * fields as decimal strings. Tries each endpoint in turn when one cannot be reached and keeps the one that answers.
 */

/** A key-value as etcd returns it (mvccpb.KeyValue), fields already decoded. */
export interface EtcdKv {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
}

/** Raw JSON from the gateway: int64 fields are strings, false and zero fields are left out. */
// biome-ignore lint/suspicious/noExplicitAny: the gateway's JSON is checked field by field where it is read.
export type GatewayJson = any;

export const encodeKey = (text: string): string => Buffer.from(text, "utf8").toString("base64");
const decode = (b64: string | undefined): string => Buffer.from(b64 ?? "", "base64").toString("utf8");

/** The end of the key range holding every key that starts with `prefix` (etcd's `--prefix`); "" is every key. */
export function prefixEnd(prefix: string): string {
  const bytes = Buffer.from(prefix, "utf8");
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i]! < 0xff) {
      const end = bytes.subarray(0, i + 1);
      end[i]!++;
      return end.toString("base64");
    }
  }
  return encodeKey("\0"); // with key "\0": the whole key space
}

export function decodeKv(kv: GatewayJson): EtcdKv {
  return {
    key: decode(kv.key),
    value: decode(kv.value),
    createRevision: Number(kv.create_revision ?? 0),
    modRevision: Number(kv.mod_revision ?? 0),
  };
}

/** What etcd says when a revision was compacted away: the backends' Compacted error. */
export function isCompactedMessage(message: string): boolean {
  return message.includes("required revision has been compacted");
}

export class EtcdClient {
  private readonly endpoints: string[];
  /** The endpoint that answered last; tried first. */
  private current = 0;
  private readonly streams = new Set<AbortController>();
  private readonly agent = new Agent({ keepAlive: true, noDelay: true });

  constructor(endpoints: readonly string[]) {
    if (endpoints.length === 0)
      throw new TortieError("Usage", "an etcd datastore needs at least one endpoint");
    this.endpoints = endpoints.map((e) => e.replace(/\/+$/, ""));
  }

  get endpointList(): string {
    return this.endpoints.join(",");
  }

  /** One unary call, e.g. `call("/v3/kv/range", {...})`; etcd's own errors keep their message. */
  async call(path: string, body: unknown): Promise<GatewayJson> {
    const response = await this.post(path, body);
    const chunks: Buffer[] = [];
    for await (const chunk of response) chunks.push(chunk as Buffer);
    let json: GatewayJson;
    try {
      json = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      throw new TortieError(
        "Internal",
        `etcd at ${this.endpoints[this.current]} answered ${path} with HTTP ${response.statusCode} and no JSON`,
      );
    }
    if (response.statusCode !== 200 || json.error !== undefined) throw this.etcdError(json);
    return json;
  }

  /**
   * Opens a watch stream and hands each response's `result` to `onResult` until it returns false (`done` then
   * resolves with undefined), the stream fails or ends (`done` resolves with why), or `stop` is called. Resolves
   * once the first response (etcd's "created") arrived.
   */
  async stream(
    body: unknown,
    onResult: (result: GatewayJson) => boolean,
  ): Promise<{ stop: () => void; done: Promise<TortieError | undefined> }> {
    const abort = new AbortController();
    this.streams.add(abort);
    const stop = () => {
      abort.abort();
      this.streams.delete(abort);
    };
    let response: IncomingMessage;
    try {
      response = await this.post("/v3/watch", body, abort.signal);
    } catch (e) {
      stop();
      throw e;
    }
    if (response.statusCode !== 200) {
      stop();
      throw this.etcdError({ error: `HTTP ${response.statusCode} for a watch` });
    }
    let created!: () => void;
    let failed!: (e: TortieError) => void;
    const first = new Promise<void>((resolve, reject) => {
      created = resolve;
      failed = reject;
    });
    const done = (async (): Promise<TortieError | undefined> => {
      const decoder = new TextDecoder();
      let buffered = "";
      let ended = new TortieError("Internal", `etcd at ${this.endpoints[this.current]} closed a watch`);
      try {
        for await (const chunk of response as AsyncIterable<Buffer>) {
          buffered += decoder.decode(chunk, { stream: true });
          let newline = buffered.indexOf("\n");
          while (newline >= 0) {
            const line = buffered.slice(0, newline).trim();
            buffered = buffered.slice(newline + 1);
            newline = buffered.indexOf("\n");
            if (!line) continue;
            const message: GatewayJson = JSON.parse(line);
            if (message.error !== undefined) throw this.etcdError(message.error);
            created();
            if (!onResult(message.result ?? {})) return undefined;
          }
        }
      } catch (e) {
        ended = abort.signal.aborted
          ? new TortieError("Internal", "the etcd watch was stopped")
          : e instanceof TortieError
            ? e
            : new TortieError("Internal", `etcd at ${this.endpoints[this.current]}: ${(e as Error).message}`);
      } finally {
        stop();
      }
      failed(ended); // no-op once "created" arrived
      return ended;
    })();
    await first;
    return { stop, done };
  }

  /** Ends every open watch. */
  close(): void {
    for (const abort of [...this.streams]) abort.abort();
    this.streams.clear();
    this.agent.destroy();
  }

  private async post(path: string, body: unknown, signal?: AbortSignal): Promise<IncomingMessage> {
    const payload = JSON.stringify(body);
    const reasons: string[] = [];
    for (let tried = 0; tried < this.endpoints.length; tried++) {
      const index = (this.current + tried) % this.endpoints.length;
      try {
        const response = await this.send(`${this.endpoints[index]}${path}`, payload, signal);
        this.current = index;
        return response;
      } catch (e) {
        if (signal?.aborted) throw e;
        reasons.push(
          `${this.endpoints[index]}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        );
      }
    }
    throw new TortieError("Unavailable", `cannot reach etcd (${reasons.join("; ")})`);
  }

  private send(url: string, payload: string, signal?: AbortSignal): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: "POST",
          agent: this.agent,
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
          signal,
        },
        resolve,
      );
      req.once("error", reject);
      req.end(payload);
    });
  }

  private etcdError(json: GatewayJson): TortieError {
    const message = String(json?.message ?? json?.error ?? "unknown error");
    if (isCompactedMessage(message)) return new TortieError("Compacted", message);
    return new TortieError("Internal", `etcd at ${this.endpoints[this.current]}: ${message}`);
  }
}
