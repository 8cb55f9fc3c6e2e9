import { randomBytes } from "node:crypto";
import {
  type ApiObject,
  apiVersionOf,
  findKind,
  jsonPatch,
  type KindDef,
  mergePatch,
  prefixFor,
  prepareObject,
} from "../api/index.ts";
import { ConflictError, deepClone, TortieError } from "../lib/index.ts";
import { ResourceError, type StoredValue } from "../store/index.ts";
import type { ServerHost } from "./host.ts";
import { checkExactRevision, listOptionsOf } from "./list-options.ts";
import { patchObject } from "./patch-request.ts";
import type { ResourcePath } from "./paths.ts";
import { queryFlag } from "./pod-container.ts";
import {
  applyFieldValidation,
  decodeObject,
  fieldValidationOf,
  readBodyText,
  readRequestObject,
  warningHeader,
} from "./request-body.ts";
import { jsonResponse, wantsTable } from "./responses.ts";
import { toScale, withReplicas } from "./scale.ts";
import { filterFromQuery } from "./selectors.ts";
import { recordUpdate } from "./server-side-apply.ts";
import { badRequest, methodNotAllowed, notFoundPath, StatusError } from "./status.ts";
import { type IncludeObject, toTable } from "./table.ts";
import { unmodelledKinds } from "./unmodelled-kinds.ts";

/** A lost compare-and-swap is retried this often, as the API server's GuaranteedUpdate does, before a 409. */
const MAX_UPDATE_ATTEMPTS = 20;

export interface ResourceRequest {
  host: ServerHost;
  request: Request;
  query: URLSearchParams;
  path: ResourcePath;
}

/** A request's writes happened: settle the cluster in the background; the response does not wait. */
function afterWrite(host: ServerHost): void {
  host.afterWrite().catch((e: unknown) => {
    console.error(`tortie serve: settling after a write failed: ${(e as Error).message}`);
  });
}

function isDryRun(query: URLSearchParams): boolean {
  const values = query.getAll("dryRun");
  for (const v of values) if (v !== "All") throw badRequest(`Invalid dry run value: ${v}`);
  return values.length > 0;
}

function includeObjectOf(query: URLSearchParams): IncludeObject {
  const v = query.get("includeObject") ?? "Metadata";
  if (v === "None" || v === "Metadata" || v === "Object") return v;
  throw badRequest(`includeObject must be one of None, Metadata, Object: ${v}`);
}

/** The objects of a list request and the store revision the listing is consistent with. */
export async function listWithRevision(
  host: ServerHost,
  def: KindDef,
  namespace: string | undefined,
): Promise<{ items: ApiObject[]; revision: number }> {
  const { items, revision } = await host.store.backend.list(prefixFor(def, namespace));
  return { revision, items: items.map((s) => storedObject(def, s)) };
}

/** A stored value as the API returns it: a copy, with its kind and resourceVersion. */
export function storedObject(def: KindDef, s: StoredValue): ApiObject {
  const o = deepClone(s.value) as ApiObject;
  o.apiVersion = apiVersionOf(def);
  o.kind = def.kind;
  o.metadata.resourceVersion = String(s.modRevision);
  return o;
}

function tableOrObject(r: ResourceRequest, objects: ApiObject[], single: ApiObject | undefined, rv: string) {
  if (wantsTable(r.request.headers.get("accept")))
    return toTable(r.path.def, objects, {
      now: r.host.now(),
      includeObject: includeObjectOf(r.query),
      resourceVersion: rv,
    });
  if (single) return single;
  const def = r.path.def;
  return {
    kind: `${def.kind}List`,
    apiVersion: apiVersionOf(def),
    metadata: { resourceVersion: rv },
    items: objects,
  };
}

async function list(r: ResourceRequest): Promise<Response> {
  const options = listOptionsOf(r.query);
  const filter = filterFromQuery(r.path.def, r.query);
  const { items, revision } = await listWithRevision(r.host, r.path.def, r.path.namespace);
  checkExactRevision(options, revision);
  // limit/continue: everything is returned in one page with no continue token, which the API allows.
  return jsonResponse(tableOrObject(r, items.filter(filter), undefined, String(revision)));
}

async function mustGet(r: ResourceRequest): Promise<ApiObject> {
  return r.host.store.mustGet(r.path.def, r.path.name!, r.path.namespace);
}

/** The body's object with the URL's namespace (and name) filled in or checked, as the API server does. */
async function bodyObject(r: ResourceRequest): Promise<{ object: ApiObject; warnings: string[] }> {
  const { def, namespace, name } = r.path;
  const raw = await readRequestObject(r.request);
  const o = raw as unknown as ApiObject;
  if (o.metadata === undefined || o.metadata === null) o.metadata = {};
  if (typeof o.metadata !== "object" || Array.isArray(o.metadata))
    throw badRequest("metadata must be an object");
  if (o.apiVersion === undefined) o.apiVersion = apiVersionOf(def);
  if (o.kind === undefined) o.kind = def.kind;
  if (o.kind !== def.kind) throw badRequest(kindMismatchMessage(def, String(o.apiVersion), String(o.kind)));
  if (o.apiVersion !== apiVersionOf(def))
    throw badRequest(
      `the API version in the data (${String(o.apiVersion)}) does not match the expected API version (${apiVersionOf(def)})`,
    );
  if (def.namespaced) {
    if (o.metadata.namespace === undefined || o.metadata.namespace === "") o.metadata.namespace = namespace;
    else if (o.metadata.namespace !== namespace)
      throw badRequest(
        "the namespace of the provided object does not match the namespace sent on the request",
      );
  }
  if (name !== undefined && o.metadata.name !== name)
    throw badRequest(
      `the name of the object (${o.metadata.name ?? ""}) does not match the name on the URL (${name})`,
    );
  return applyFieldValidation(def, o, fieldValidationOf(r.query));
}

/**
 * A body of another kind than the URL's: the API server's decoder fails (transformDecodeError), `Secret in version
 * "v1" cannot be handled as a ConfigMap: converting (v1.Secret) to (core.ConfigMap): unknown conversion` when both
 * kinds are built in (the versioned type cannot be converted to the internal one).
 */
function kindMismatchMessage(def: KindDef, apiVersion: string, kind: string): string {
  const version = apiVersion.slice(apiVersion.lastIndexOf("/") + 1);
  const head = `${kind} in version ${JSON.stringify(version)} cannot be handled as a ${def.kind}`;
  const known = findKind(apiVersion, kind);
  if (!known)
    return `${head}: no kind ${JSON.stringify(kind)} is registered for version ${JSON.stringify(apiVersion)}`;
  const internalPackage = INTERNAL_PACKAGES[def.group];
  if (internalPackage === undefined || INTERNAL_PACKAGES[known.group] === undefined) return head;
  return `${head}: converting (${known.version}.${kind}) to (${internalPackage}.${def.kind}): unknown conversion`;
}

/** The Go package of the API server's internal types, per built-in group (k8s.io/kubernetes/pkg/apis/…). */
const INTERNAL_PACKAGES: Record<string, string> = {
  "": "core",
  apps: "apps",
  batch: "batch",
  policy: "policy",
  "networking.k8s.io": "networking",
  "discovery.k8s.io": "discovery",
  "rbac.authorization.k8s.io": "rbac",
  "coordination.k8s.io": "coordination",
};

function withWarnings(body: unknown, status: number, warnings: string[]): Response {
  const response = jsonResponse(body, status);
  for (const w of warnings) response.headers.append("warning", warningHeader(w));
  return response;
}

/**
 * Who a write's fields belong to: `?fieldManager=`, else the client's user agent up to its first `/` (`kubectl`),
 * as the API server defaults it for everything but apply.
 */
function fieldManagerOf(r: ResourceRequest): string | undefined {
  const explicit = r.query.get("fieldManager");
  if (explicit) return explicit;
  const agent = r.request.headers.get("user-agent");
  return agent ? agent.split("/")[0] : undefined;
}

/** The object to store with the write recorded in its managedFields (unchanged when no manager is known). */
function withManagedFields(
  r: ResourceRequest,
  before: ApiObject | undefined,
  after: ApiObject,
  scope: "main" | "status" = "main",
): ApiObject {
  const manager = fieldManagerOf(r);
  if (!manager) return after;
  return recordUpdate({ def: r.path.def, before, after, manager, scope, now: r.host.now() });
}

async function create(r: ResourceRequest): Promise<Response> {
  const { object, warnings } = await bodyObject(r);
  const meta = object.metadata;
  if (!meta.name && meta.generateName)
    meta.name = `${meta.generateName}${randomBytes(4).toString("hex").slice(0, 5)}`;
  if (isDryRun(r.query)) return withWarnings(prepareObject(r.path.def, object), 201, warnings);
  const created = await r.host.store.create(withManagedFields(r, undefined, object));
  afterWrite(r.host);
  return withWarnings(created, 201, warnings);
}

async function replace(r: ResourceRequest, subresource?: "status"): Promise<Response> {
  const { object, warnings } = await bodyObject(r);
  let toStore = object;
  if (subresource === "status") {
    // PUT …/status changes only `.status`: everything else comes from the stored object.
    const current = await mustGet(r);
    toStore = { ...current, status: object.status };
    toStore.metadata = { ...current.metadata, resourceVersion: object.metadata.resourceVersion };
  }
  if (isDryRun(r.query)) {
    const current = await mustGet(r);
    return withWarnings(
      {
        ...prepareObject(r.path.def, toStore),
        metadata: { ...toStore.metadata, resourceVersion: current.metadata.resourceVersion },
      },
      200,
      warnings,
    );
  }
  // The fields this PUT changed become its manager's; a body without managedFields keeps the stored ones.
  const current = await mustGet(r);
  const updated = await r.host.store.update(
    withManagedFields(r, current, toStore, subresource === "status" ? "status" : "main"),
    { withStatus: subresource === "status" },
  );
  afterWrite(r.host);
  return withWarnings(updated, 200, warnings);
}

function isConflict(e: unknown): boolean {
  return e instanceof TortieError && e.code === "Conflict";
}

/**
 * Reads the object, computes the new one, and writes it with the read's resourceVersion as precondition; a write
 * that loses a race is done again from a fresh read (the API server's GuaranteedUpdate). A resourceVersion the
 * client pinned is its own precondition: that conflict is the client's.
 */
async function guaranteedUpdate(
  r: ResourceRequest,
  compute: (current: ApiObject | undefined) => ApiObject,
  opts: { withStatus?: boolean; createMissing?: boolean },
): Promise<{ object: ApiObject; created: boolean }> {
  const { def, name, namespace } = r.path;
  const dryRun = isDryRun(r.query);
  for (let attempt = 1; ; attempt++) {
    const current = await r.host.store.get(def, name!, namespace);
    if (!current && !opts.createMissing)
      throw new ResourceError(new TortieError("NotFound", `${def.plural} "${name}" not found`), {
        def,
        name: name!,
        namespace,
      });
    const next = compute(current);
    if (dryRun) return { object: next, created: !current };
    try {
      if (!current) return { object: await r.host.store.create(next), created: true };
      const pinned = next.metadata.resourceVersion;
      if (pinned !== undefined && pinned !== current.metadata.resourceVersion)
        throw new ResourceError(
          new ConflictError(
            `Operation cannot be fulfilled on ${def.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
          ),
          { def, name: name!, namespace },
        );
      const guarded = {
        ...next,
        metadata: { ...next.metadata, resourceVersion: current.metadata.resourceVersion },
      };
      const stored = await r.host.store.update(guarded, { withStatus: opts.withStatus });
      return { object: stored, created: false };
    } catch (e) {
      const lostRace = isConflict(e) && next.metadata.resourceVersion === undefined;
      const createdMeanwhile = !current && e instanceof TortieError && e.code === "AlreadyExists";
      if ((lostRace || createdMeanwhile) && attempt < MAX_UPDATE_ATTEMPTS) continue;
      throw e;
    }
  }
}

async function patch(r: ResourceRequest, subresource?: "status"): Promise<Response> {
  const contentType = (r.request.headers.get("content-type") ?? "").split(";")[0]!.trim();
  const body = await readBodyText(r.request);
  const apply = contentType === "application/apply-patch+yaml";
  const force = queryFlag(r.query, "force");
  if (apply && !r.query.get("fieldManager")) throw badRequest("fieldManager is required for apply requests");
  const fieldManager = fieldManagerOf(r);
  const { object, created } = await guaranteedUpdate(
    r,
    (current) =>
      patchObject({
        contentType,
        def: r.path.def,
        current,
        body,
        fieldManager,
        force,
        name: r.path.name,
        namespace: r.path.namespace,
        now: r.host.now(),
        ...(subresource ? { subresource } : {}),
      }),
    { withStatus: subresource === "status", createMissing: apply && subresource === undefined },
  );
  if (!isDryRun(r.query)) afterWrite(r.host);
  return jsonResponse(object, created ? 201 : 200);
}

/** DeleteOptions may come as a body; its preconditions are checked, the rest is accepted. */
async function deleteOptions(r: ResourceRequest): Promise<{ resourceVersion?: string }> {
  const text = await readBodyText(r.request);
  // client-go's typed clients send DeleteOptions as protobuf: accepted, with the API server's defaults.
  if (text.trim() === "" || text.startsWith("k8s\u0000")) return {};
  const o = decodeObject(text, "application/json") as {
    preconditions?: { resourceVersion?: unknown };
    dryRun?: unknown;
  };
  const rv = o.preconditions?.resourceVersion;
  if (Array.isArray(o.dryRun) && o.dryRun.includes("All")) r.query.append("dryRun", "All");
  return typeof rv === "string" ? { resourceVersion: rv } : {};
}

async function remove(r: ResourceRequest): Promise<Response> {
  const { resourceVersion } = await deleteOptions(r);
  if (isDryRun(r.query)) return jsonResponse(await mustGet(r));
  const deleted = await r.host.store.delete(r.path.def, r.path.name!, r.path.namespace, { resourceVersion });
  afterWrite(r.host);
  return jsonResponse(deleted);
}

async function removeCollection(r: ResourceRequest): Promise<Response> {
  await deleteOptions(r);
  const { def, namespace } = r.path;
  const filter = filterFromQuery(def, r.query);
  const { items, revision } = await listWithRevision(r.host, def, namespace);
  const chosen = items.filter(filter);
  if (!isDryRun(r.query)) {
    for (const o of chosen) {
      try {
        await r.host.store.delete(def, o.metadata.name!, o.metadata.namespace);
      } catch (e) {
        if (!(e instanceof TortieError && e.code === "NotFound")) throw e;
      }
    }
    if (chosen.length > 0) afterWrite(r.host);
  }
  return jsonResponse({
    kind: `${def.kind}List`,
    apiVersion: apiVersionOf(def),
    metadata: { resourceVersion: String(revision) },
    items: chosen,
  });
}

/** `deployments/scale`, `replicasets/scale`: the object seen and written as an autoscaling/v1 Scale. */
async function scale(r: ResourceRequest, method: string): Promise<Response> {
  const { def } = r.path;
  if (method === "GET") return jsonResponse(toScale(def, await mustGet(r)));
  const body = await readBodyText(r.request);
  const contentType = (r.request.headers.get("content-type") ?? "").split(";")[0]!.trim();
  const { object } = await guaranteedUpdate(
    r,
    (current) => {
      const asScale = toScale(def, current!) as {
        metadata: { resourceVersion?: string };
        spec: { replicas: number };
      };
      const wanted =
        method === "PUT"
          ? (decodeObject(body, contentType) as typeof asScale)
          : (patchScale(asScale, contentType, body) as typeof asScale);
      const replicas = wanted.spec?.replicas;
      if (!Number.isInteger(replicas) || replicas < 0)
        throw new StatusError(
          422,
          "Invalid",
          `Scale.autoscaling "${r.path.name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`,
        );
      const next = withReplicas(current!, replicas);
      const pinned = wanted.metadata?.resourceVersion;
      return {
        ...next,
        metadata: {
          ...next.metadata,
          resourceVersion: pinned === current!.metadata.resourceVersion ? undefined : pinned,
        },
      };
    },
    {},
  );
  if (!isDryRun(r.query)) afterWrite(r.host);
  return jsonResponse(toScale(def, object));
}

/** A Scale has no lists, so merge and strategic merge patches agree; JSON patches apply as such. */
function patchScale(asScale: object, contentType: string, body: string): unknown {
  let patchDoc: unknown;
  try {
    patchDoc = JSON.parse(body);
  } catch (e) {
    throw badRequest(`the patch is not valid JSON: ${(e as Error).message}`);
  }
  if (contentType === "application/json-patch+json") return jsonPatch(asScale, patchDoc);
  if (
    contentType === "application/merge-patch+json" ||
    contentType === "application/strategic-merge-patch+json"
  )
    return mergePatch(asScale, patchDoc);
  throw new StatusError(
    415,
    "UnsupportedMediaType",
    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json",
  );
}

/** Dispatches one resource request by method and subresource. Pod log/exec and forwarding are routed before. */
export async function handleResource(r: ResourceRequest): Promise<Response> {
  const method = r.request.method;
  const { name, subresource, def } = r.path;
  // Nothing stores objects of these kinds: a write is refused with the reason, not stored and left unacted on.
  if (method !== "GET" && unmodelledKinds.includes(def))
    throw new StatusError(405, "MethodNotAllowed", def.managedBy!);
  if (name === undefined) {
    if (method === "GET") return list(r);
    if (method === "POST") return create(r);
    if (method === "DELETE") return removeCollection(r);
    throw methodNotAllowed();
  }
  if (subresource === undefined) {
    if (method === "GET") {
      const o = await mustGet(r);
      return jsonResponse(tableOrObject(r, [o], o, o.metadata.resourceVersion ?? ""));
    }
    if (method === "PUT") return replace(r);
    if (method === "PATCH") return patch(r);
    if (method === "DELETE") return remove(r);
    throw methodNotAllowed();
  }
  if (subresource === "status") {
    if (method === "GET") return jsonResponse(await mustGet(r));
    if (method === "PUT") return replace(r, "status");
    if (method === "PATCH") return patch(r, "status");
    throw methodNotAllowed();
  }
  if (
    subresource === "scale" &&
    (def.kind === "Deployment" || def.kind === "ReplicaSet") &&
    def.group === "apps"
  ) {
    if (method === "GET" || method === "PUT" || method === "PATCH") return scale(r, method);
    throw methodNotAllowed();
  }
  throw notFoundPath();
}
