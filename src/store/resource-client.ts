import { randomUUID } from "node:crypto";
import {
  type ApiObject,
  apiVersionOf,
  describeObject,
  findKind,
  immutableMetaProblems,
  ipv4MappedProblem,
  type KindDef,
  keyFor,
  kindsNamed,
  poolComparable,
  prefixFor,
  prepareObject,
} from "../api/index.ts";
import {
  AlreadyExistsError,
  ConflictError,
  deepClone,
  deepEqual,
  type FieldProblem,
  NotFoundError,
  TortieError,
  ValidationError,
} from "../lib/index.ts";
import { cidrsOverlap, parseCidr } from "../net/index.ts";
import type { StoreBackend, StoredValue, WatchEvent } from "./backend.ts";

/** Retries of a delete that keeps losing races to other writers before it reports a Conflict. */
const MAX_DELETE_ATTEMPTS = 20;

/** The API server's message for a write that lost a race to another (etcd's compare-and-swap failed). */
function modifiedMessage(def: KindDef, name: string): string {
  return `Operation cannot be fulfilled on ${def.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`;
}

/** Which object an error is about, so each front-end (kubectl, calicoctl) can word it its own way. */
export interface Subject {
  def: KindDef;
  name: string;
  namespace?: string;
}

export class ResourceError extends TortieError {
  readonly subject: Subject;
  constructor(inner: TortieError, subject: Subject) {
    super(inner.code, inner.message);
    this.subject = subject;
  }
}

export interface WriteOptions {
  /** Controllers may write kinds users may not (WorkloadEndpoint, IPAM blocks, ...). */
  asController?: boolean;
  /** Write `status` too; user updates keep the stored status, as the status subresource does. */
  withStatus?: boolean;
}

/**
 * An admission step the API server runs on create and update, after decoding and the built-in checks. It may
 * change the object (allocate a cluster IP) or throw to reject it. Plugins live above the store (L3) and are
 * handed in by whoever opens it.
 */
export interface AdmissionPlugin {
  admit(def: KindDef, o: ApiObject, existing: ApiObject | undefined, client: ResourceClient): Promise<void>;
}

export const BUILT_IN_NAMESPACES = ["default", "kube-node-lease", "kube-public", "kube-system"];

function toObject(def: KindDef, s: StoredValue): ApiObject {
  const o = deepClone(s.value) as ApiObject;
  o.apiVersion = apiVersionOf(def);
  o.kind = def.kind;
  o.metadata.resourceVersion = String(s.modRevision);
  return o;
}

function rfc3339Seconds(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

/**
 * API-server semantics over a StoreBackend: decode/default/validate, admission checks that need other
 * objects, and the metadata the API servers own (uid, resourceVersion, generation, creationTimestamp).
 */
export class ResourceClient {
  readonly backend: StoreBackend;
  private readonly now: () => Date;
  private readonly plugins: AdmissionPlugin[] = [];

  constructor(backend: StoreBackend, options: { now?: () => Date } = {}) {
    this.backend = backend;
    this.now = options.now ?? (() => new Date());
  }

  /** Adds an admission step (see AdmissionPlugin); steps run in the order added. */
  use(plugin: AdmissionPlugin): this {
    this.plugins.push(plugin);
    return this;
  }

  kindOf(o: ApiObject): KindDef {
    const def = findKind(o.apiVersion, o.kind);
    if (def) return def;
    const others = kindsNamed(o.kind);
    if (others.length > 0)
      throw new TortieError(
        "Invalid",
        `no kind "${o.kind}" in version "${o.apiVersion}" (known: ${others.map((d) => apiVersionOf(d)).join(", ")})`,
      );
    throw new TortieError("Invalid", `no matches for kind "${o.kind}" in version "${o.apiVersion}"`);
  }

  async get(def: KindDef, name: string, namespace?: string): Promise<ApiObject | undefined> {
    const s = await this.backend.get(keyFor(def, name, namespace));
    return s && toObject(def, s);
  }

  async mustGet(def: KindDef, name: string, namespace?: string): Promise<ApiObject> {
    const o = await this.get(def, name, namespace);
    if (!o) throw this.notFound(def, name, namespace);
    return o;
  }

  /** Objects sorted by namespace then name; all namespaces when `namespace` is undefined. */
  async list(def: KindDef, namespace?: string): Promise<ApiObject[]> {
    const { items } = await this.backend.list(prefixFor(def, namespace));
    return items.map((s) => toObject(def, s));
  }

  private notFound(def: KindDef, name: string, namespace?: string): ResourceError {
    return new ResourceError(new NotFoundError(`${def.plural} "${name}" not found`), {
      def,
      name,
      namespace,
    });
  }

  private guardManaged(def: KindDef, opts: WriteOptions): void {
    // An own property only: a polluted Object.prototype.asController must never open a read-only kind.
    if (def.managedBy && !(Object.hasOwn(opts, "asController") && opts.asController === true))
      throw new TortieError("Unsupported", `${def.kind} is read-only: ${def.managedBy}`);
  }

  /** Checks that need the rest of the store (the API server's admission, Calico's client-side checks). */
  private async admit(def: KindDef, o: ApiObject, existing: ApiObject | undefined): Promise<void> {
    const problems: FieldProblem[] = [];
    const ns = o.metadata.namespace;
    if (def.namespaced && ns && def.kind !== "Namespace") {
      const nsDef = findKind("v1", "Namespace")!;
      if (!(await this.backend.get(keyFor(nsDef, ns))))
        throw new ResourceError(new NotFoundError(`namespaces "${ns}" not found`), { def: nsDef, name: ns });
    }
    if (def.kind === "IPPool" && def.group === "projectcalico.org") {
      const cidr = parseCidr(o.spec.cidr);
      if (existing) {
        for (const f of ["cidr", "blockSize"])
          if (!deepEqual(existing.spec[f], o.spec[f]))
            problems.push({ path: `spec.${f}`, message: "field is immutable" });
      }
      for (const other of await this.list(def)) {
        const oc = parseCidr(other.spec.cidr);
        // An IPv4-mapped pool is compared as the IPv4 network it maps, as libcalico-go's Go types do.
        if (
          other.metadata.name !== o.metadata.name &&
          cidr &&
          oc &&
          cidrsOverlap(poolComparable(cidr), poolComparable(oc))
        )
          problems.push({
            path: "spec.cidr",
            message: `IPPool(${o.metadata.name}) CIDR overlaps with IPPool(${other.metadata.name}) CIDR ${other.spec.cidr}`,
          });
      }
      const mapped = problems.length === 0 && cidr ? ipv4MappedProblem(o.spec.cidr, cidr) : undefined;
      if (mapped) problems.push({ path: "spec.cidr", message: mapped });
    }
    if (problems.length > 0) throw new ValidationError(describeObject(def, o), problems);
    for (const plugin of this.plugins) await plugin.admit(def, o, existing, this);
  }

  async create(input: ApiObject, opts: WriteOptions = {}): Promise<ApiObject> {
    const def = this.kindOf(input);
    this.guardManaged(def, opts);
    const o = prepareObject(def, input);
    await this.admit(def, o, undefined);
    const meta = o.metadata;
    meta.uid = randomUUID();
    meta.creationTimestamp = rfc3339Seconds(this.now());
    if (o.spec !== undefined) meta.generation = 1;
    else delete meta.generation;
    delete meta.resourceVersion;
    try {
      return toObject(def, await this.backend.create(keyFor(def, meta.name!, meta.namespace), o));
    } catch (e) {
      if (e instanceof AlreadyExistsError)
        throw new ResourceError(new AlreadyExistsError(`${def.plural} "${meta.name}" already exists`), {
          def,
          name: meta.name!,
          namespace: meta.namespace,
        });
      throw e;
    }
  }

  /**
   * Replaces an object. If `input.metadata.resourceVersion` is set it must be current (optimistic concurrency);
   * uid and creationTimestamp are kept, generation moves when the spec changes.
   */
  async update(input: ApiObject, opts: WriteOptions = {}): Promise<ApiObject> {
    const def = this.kindOf(input);
    this.guardManaged(def, opts);
    const name = input.metadata.name ?? "";
    const key = keyFor(def, name, input.metadata.namespace);
    const cur = await this.backend.get(key);
    if (!cur) throw this.notFound(def, name, input.metadata.namespace);
    const live = toObject(def, cur);
    const wanted = input.metadata.resourceVersion;
    const conflict = () =>
      new ResourceError(new ConflictError(modifiedMessage(def, name)), {
        def,
        name,
        namespace: input.metadata.namespace,
      });
    if (wanted !== undefined && wanted !== live.metadata.resourceVersion) throw conflict();
    const o = prepareObject(def, input);
    const immutable = immutableMetaProblems(live, o);
    if (immutable.length > 0) throw new ValidationError(describeObject(def, o), immutable);
    if (!opts.withStatus && live.status !== undefined) o.status = live.status;
    await this.admit(def, o, live);
    const meta = o.metadata;
    meta.uid = live.metadata.uid;
    meta.creationTimestamp = live.metadata.creationTimestamp;
    if (o.spec !== undefined)
      meta.generation =
        (live.metadata.generation ?? 0) + (deepEqual(live.spec, o.spec) && live.metadata.generation ? 0 : 1);
    delete meta.resourceVersion;
    try {
      return toObject(def, await this.backend.update(key, o, cur.modRevision));
    } catch (e) {
      if (e instanceof ConflictError) throw conflict();
      // Deleted between our read and this write: the API server's NotFound, not the backend's wording.
      if (e instanceof NotFoundError) throw this.notFound(def, name, input.metadata.namespace);
      throw e;
    }
  }

  async delete(
    def: KindDef,
    name: string,
    namespace?: string,
    opts: WriteOptions & { resourceVersion?: string } = {},
  ) {
    this.guardManaged(def, opts);
    const key = keyFor(def, name, namespace);
    const subject = { def, name, namespace };
    // As the API server's storage does: a delete that loses a race to another write (a controller's) reads the
    // object again and retries, checking the precondition again; one deleted meanwhile is NotFound. The backend's
    // own CAS wording never reaches the user.
    for (let attempt = 0; ; attempt++) {
      const cur = await this.backend.get(key);
      if (!cur) throw this.notFound(def, name, namespace);
      if (opts.resourceVersion !== undefined && opts.resourceVersion !== String(cur.modRevision))
        throw new ResourceError(
          new ConflictError(
            `Operation cannot be fulfilled on ${def.plural} "${name}": the ResourceVersion in the precondition (${opts.resourceVersion}) does not match the ResourceVersion in record (${cur.modRevision}). The object might have been modified`,
          ),
          subject,
        );
      try {
        return toObject(def, await this.backend.delete(key, cur.modRevision));
      } catch (e) {
        if (e instanceof NotFoundError) throw this.notFound(def, name, namespace);
        if (!(e instanceof ConflictError)) throw e;
        if (attempt >= MAX_DELETE_ATTEMPTS)
          throw new ResourceError(new ConflictError(modifiedMessage(def, name)), subject);
      }
    }
  }

  /** Creates the namespaces every Kubernetes cluster starts with, if this is a new store. */
  async ensureBuiltIns(): Promise<void> {
    if ((await this.backend.revision()) > 0) return;
    for (const name of BUILT_IN_NAMESPACES) {
      try {
        await this.create({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
      } catch (e) {
        if (!(e instanceof ResourceError && e.code === "AlreadyExists")) throw e;
      }
    }
  }

  watch(
    def: KindDef,
    fromRevision: number,
    onEvent: (e: WatchEvent, o: ApiObject) => void,
  ): Promise<() => void> {
    return this.backend.watch(prefixFor(def), fromRevision, (e) =>
      onEvent(e, toObject(def, { key: e.key, value: e.value, createRevision: 0, modRevision: e.revision })),
    );
  }
}
