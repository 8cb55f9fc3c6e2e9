import { type ApiObject, apiVersionOf, keyFor, prefixFor } from "../api/index.ts";
import { TortieError } from "../lib/index.ts";
import type { WatchEvent } from "../store/index.ts";
import { int64Param } from "./list-options.ts";
import { queryFlag } from "./pod-container.ts";
import { listWithRevision, type ResourceRequest, storedObject } from "./resources.ts";
import { wantsTable } from "./responses.ts";
import { filterFromQuery } from "./selectors.ts";
import { badRequest, StatusError, statusBody } from "./status.ts";
import { type IncludeObject, toTable } from "./table.ts";

/** The API server's default watch length is minRequestTimeout (1800 s) and up to twice that; tortie uses 1800 s. */
const DEFAULT_TIMEOUT_SECONDS = 1800;

export interface WatchOptions {
  /** How often a watch with `allowWatchBookmarks=true` gets a BOOKMARK (the API server: about once a minute). */
  bookmarkIntervalMs: number;
  /** Every open watch's close, so stopping the server ends them (a stream holds its connection open). */
  openWatches: Set<() => void>;
}

type EventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

/** A count in the query: the API server's strconv words when it is not an integer, tortie's when negative. */
function positiveInt(query: URLSearchParams, name: string): number | undefined {
  const v = int64Param(query, name);
  if (v !== undefined && v < 0) throw badRequest(`invalid ${name}: ${JSON.stringify(String(v))}`);
  return v;
}

/**
 * A watch as the API server streams it: newline-delimited JSON events. Without a resourceVersion (or "0") the
 * stream starts with an ADDED for every object that exists, then every change after that listing; with one,
 * every change after it (410 Expired in an ERROR event when that history is compacted). An object leaving the
 * label/field selection is DELETED, one entering it ADDED. Closing the connection unsubscribes.
 */
export async function watchResponse(r: ResourceRequest, options: WatchOptions): Promise<Response> {
  const { def, namespace, name } = r.path;
  const selection = filterFromQuery(def, r.query);
  const filter = (o: ApiObject) =>
    (namespace === undefined || o.metadata.namespace === namespace) &&
    (name === undefined || o.metadata.name === name) &&
    selection(o);
  const rvText = r.query.get("resourceVersion") ?? "";
  if (rvText !== "" && !/^\d+$/.test(rvText)) throw badRequest(`invalid resource version: ${rvText}`);
  const timeoutSeconds = positiveInt(r.query, "timeoutSeconds") ?? DEFAULT_TIMEOUT_SECONDS;
  const bookmarks = queryFlag(r.query, "allowWatchBookmarks");
  const sendInitial = queryFlag(r.query, "sendInitialEvents");
  const asTable = wantsTable(r.request.headers.get("accept"));
  const includeObject = (r.query.get("includeObject") ?? "Metadata") as IncludeObject;
  const { host } = r;

  const encoder = new TextEncoder();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let closed = false;
  const cleanups: (() => void)[] = [];
  const close = () => {
    if (closed) return;
    closed = true;
    options.openWatches.delete(close);
    for (const c of cleanups) c();
    try {
      controller.close();
    } catch {
      // already closed by the client going away
    }
  };
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    cancel() {
      close();
    },
  });
  let lastRevision = 0;
  const send = (type: EventType, object: unknown) => {
    if (closed) return;
    const payload =
      asTable && (type === "ADDED" || type === "MODIFIED" || type === "DELETED")
        ? toTable(def, [object as ApiObject], { now: host.now(), includeObject })
        : object;
    controller.enqueue(encoder.encode(`${JSON.stringify({ type, object: payload })}\n`));
  };
  const bookmark = (annotations?: Record<string, string>) =>
    send("BOOKMARK", {
      kind: def.kind,
      apiVersion: apiVersionOf(def),
      metadata: { resourceVersion: String(lastRevision), ...(annotations ? { annotations } : {}) },
    });

  // Which watched keys are in the selection now, to turn a change across its edge into ADDED or DELETED.
  const selected = new Set<string>();
  const keyOf = (o: ApiObject) => keyFor(def, o.metadata.name ?? "", o.metadata.namespace);
  const onEvent = (e: WatchEvent, o: ApiObject) => {
    lastRevision = Math.max(lastRevision, e.revision);
    const key = keyOf(o);
    const was = selected.has(key);
    if (e.type === "delete") {
      selected.delete(key);
      if (was) send("DELETED", o);
      return;
    }
    const is = filter(o);
    if (is) selected.add(key);
    else selected.delete(key);
    if (is) send(was ? "MODIFIED" : "ADDED", o);
    else if (was) send("DELETED", o);
  };

  let from: number;
  if (rvText === "" || rvText === "0") {
    const { items, revision } = await listWithRevision(host, def, namespace);
    from = revision;
    lastRevision = revision;
    for (const o of items) if (filter(o)) selected.add(keyOf(o));
    // Before subscribing: the store delivers only changes after `from`, so these come first, as they should.
    for (const o of items) if (selected.has(keyOf(o))) send("ADDED", o);
    if (sendInitial && bookmarks) bookmark({ "k8s.io/initial-events-end": "true" });
  } else {
    from = Number(rvText);
    lastRevision = from;
    // What was in the selection at `from`, so a replayed change is MODIFIED and a replayed create ADDED: an object
    // created after `from` was not there; one that existed then is judged by its value now (the store keeps no
    // earlier values to judge by).
    const { items } = await host.store.backend.list(prefixFor(def, namespace));
    for (const s of items) {
      const o = storedObject(def, s);
      if (s.createRevision <= from && filter(o)) selected.add(keyOf(o));
    }
  }

  try {
    const unsubscribe = await host.store.watch(def, from, onEvent);
    cleanups.push(unsubscribe);
  } catch (e) {
    if (!(e instanceof TortieError && e.code === "Compacted")) throw e;
    const current = await host.store.backend.revision();
    const expired = new StatusError(410, "Expired", `too old resource version: ${from} (${current})`);
    send("ERROR", statusBody(expired));
    close();
  }
  // A watch that ended already (410 Expired) needs no timers and is not open.
  if (!closed) {
    options.openWatches.add(close);
    // Timers never keep the process alive by themselves: a watch lives as long as its connection and the server.
    const timer = setTimeout(close, timeoutSeconds * 1000).unref();
    cleanups.push(() => clearTimeout(timer));
    if (bookmarks) {
      const ticker = setInterval(() => {
        void host.store.backend.revision().then((rev) => {
          lastRevision = Math.max(lastRevision, rev);
          bookmark();
        });
      }, options.bookmarkIntervalMs).unref();
      cleanups.push(() => clearInterval(ticker));
    }
    r.request.signal.addEventListener("abort", close);
  }

  return new Response(stream, {
    status: 200,
    headers: {
      "content-type": "application/json",
      "transfer-encoding": "chunked",
      "cache-control": "no-cache",
    },
  });
}
