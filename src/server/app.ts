import type { HttpBindings } from "@hono/node-server";
import { type Context, Hono } from "hono";
import { escapeControl, isTortieError } from "../lib/index.ts";
import { hasValidToken, unauthorized } from "./auth.ts";
import {
  aggregatedContentType,
  aggregatedDiscovery,
  aggregatedDiscoveryVersion,
  apiGroupDocument,
  apiGroupList,
  apiResourceList,
  apiVersions,
  SERVER_VERSION,
} from "./discovery.ts";
import { forwardedCommandResponse } from "./forward.ts";
import type { ServerHost } from "./host.ts";
import { openApiV2, openApiV3Document, openApiV3Paths } from "./openapi.ts";
import { hasDotSegment, parseResourcePath, rawPathname } from "./paths.ts";
import { queryFlag } from "./pod-container.ts";
import { podLogResponse } from "./pod-log.ts";
import { handleResource } from "./resources.ts";
import { jsonResponse, statusResponse } from "./responses.ts";
import { badRequest, methodNotAllowed, notFoundPath, StatusError, toStatusError } from "./status.ts";
import { type WatchOptions, watchResponse } from "./watch.ts";

export interface AppOptions extends WatchOptions {
  host: ServerHost;
  token: string;
  /** `host:port` clients reach the server at (APIVersions' serverAddressByClientCIDRs). */
  serverAddress: () => string;
}

/** Discovery answers in the aggregated format when the client asks for it, else in the legacy one. */
function discovery(accept: string | undefined, which: "core" | "named", legacy: () => object): Response {
  const version = aggregatedDiscoveryVersion(accept);
  if (!version) return jsonResponse(legacy());
  return jsonResponse(aggregatedDiscovery(which, version), 200, {
    "content-type": aggregatedContentType(version),
  });
}

/**
 * A failure for the server's log: tortie's own errors (etcd unreachable, a lock held) are their one line, as
 * every request may repeat them; only an unexpected error (a bug) brings its stack.
 */
function serverLogText(e: unknown): string {
  if (e instanceof StatusError && e.cause !== undefined) return serverLogText(e.cause);
  if (isTortieError(e) || e instanceof StatusError) return escapeControl(e.message);
  return (e as Error)?.stack ?? String(e);
}

type Env = { Bindings: Partial<HttpBindings> };

/** The path as the client sent it; a request made without node's server (app.fetch in a test) has only the URL. */
function clientPath(c: Context<Env>): string {
  return rawPathname(c.env?.incoming?.url ?? c.req.path);
}

/**
 * The Kubernetes API as a Hono app: every request authenticated by bearer token, then discovery, OpenAPI,
 * tortie's forwarded commands, and resources. Every failure is a `Status` object; no stack trace leaves.
 */
export function createApp(o: AppOptions): Hono<Env> {
  const app = new Hono<Env>();
  app.onError((e) => {
    const status = toStatusError(e);
    if (status.code >= 500) console.error(`tortie serve: ${serverLogText(e)}`);
    return statusResponse(status);
  });
  app.notFound(() => statusResponse(notFoundPath()));
  app.use("*", async (c, next) => {
    if (!hasValidToken(c.req.header("authorization"), o.token)) return statusResponse(unauthorized());
    // The routes see the path after the URL parser resolved `%2E%2E`: such a request is answered from the path
    // as sent, a name's 400 (parseResourcePath throws it) or else a 404, never for the parent it resolves to.
    const path = clientPath(c);
    if (hasDotSegment(path)) {
      parseResourcePath(path);
      throw notFoundPath();
    }
    await next();
  });

  app.get("/version", (c) => c.json(SERVER_VERSION));
  // The API server's health checks answer "ok" as text once it serves; tortie's serves as soon as it listens.
  for (const check of ["/healthz", "/livez", "/readyz"]) app.get(check, (c) => c.text("ok"));
  app.get("/api", (c) => discovery(c.req.header("accept"), "core", () => apiVersions(o.serverAddress())));
  app.get("/apis", (c) => discovery(c.req.header("accept"), "named", apiGroupList));
  app.get("/openapi/v2", () => jsonResponse(openApiV2()));
  app.get("/openapi/v3", () => jsonResponse(openApiV3Paths()));
  app.get("/openapi/v3/*", (c) => {
    const doc = openApiV3Document(c.req.path.slice("/openapi/v3/".length));
    return doc ? jsonResponse(doc) : statusResponse(notFoundPath());
  });
  app.post("/tortie/v1/commands", (c) => forwardedCommandResponse(o.host, c.req.raw));
  app.get("/api/v1", () => jsonResponse(apiResourceList("", "v1")));
  app.get("/apis/:group", (c) => {
    const doc = apiGroupDocument(c.req.param("group"));
    return doc ? jsonResponse(doc) : statusResponse(notFoundPath());
  });
  app.get("/apis/:group/:version", (c) => {
    const doc = apiResourceList(c.req.param("group"), c.req.param("version"));
    return doc ? jsonResponse(doc) : statusResponse(notFoundPath());
  });

  app.all("*", async (c) => {
    const path = parseResourcePath(clientPath(c));
    if (!path) throw notFoundPath();
    const query = new URL(c.req.url).searchParams;
    const request = { host: o.host, request: c.req.raw, query, path };
    const isWatch = path.watchPrefix || queryFlag(query, "watch");
    if (isWatch) {
      if (c.req.method !== "GET") throw methodNotAllowed();
      return watchResponse(request, o);
    }
    if (path.def.kind === "Pod" && path.def.group === "" && path.name !== undefined) {
      if (path.subresource === "log") {
        if (c.req.method !== "GET") throw methodNotAllowed();
        return podLogResponse(o.host, path.namespace!, path.name, query);
      }
      // pods/exec is a connection upgrade, answered by the server's `upgrade` event; the API server's words for
      // a plain request.
      if (path.subresource === "exec") throw badRequest("Upgrade request required");
    }
    try {
      return await handleResource(request);
    } catch (e) {
      throw toStatusError(e, { def: path.def, name: path.name });
    }
  });
  return app;
}
