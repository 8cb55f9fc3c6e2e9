import { StatusError } from "./status.ts";

/**
 * Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`). client-go's typed
 * clients send built-in kinds this way with no fallback to JSON, so `kubectl create namespace|configmap|secret|
 * serviceaccount|deployment|service` arrive as protobuf. This decodes those kinds, for the fields their
 * generators and typical typed clients set (numbers from k8s.io/api's generated.proto), into the JSON form
 * the rest of the server handles. A field outside these schemas is refused plainly (415), never dropped.
 * Responses are always JSON: clients also accept it.
 */
export const PROTOBUF_CONTENT_TYPE = "application/vnd.kubernetes.protobuf";

type FieldType =
  | "string"
  | "bytes"
  | "int"
  | "bool"
  | "time"
  | "quantity"
  | "intstr"
  | { map: "string" | "bytes" | "quantity" }
  | Schema;

/** A message: field number → [JSON name, type, repeated, keep a zero value (a Go pointer field)]. */
interface Schema {
  name: string;
  fields: Record<number, [name: string, type: FieldType, repeated?: boolean, keepZero?: boolean]>;
}

const schema = (name: string, fields: Schema["fields"]): Schema => ({ name, fields });

const ownerReference = schema("OwnerReference", {
  1: ["kind", "string"],
  3: ["name", "string"],
  4: ["uid", "string"],
  5: ["apiVersion", "string"],
  6: ["controller", "bool", false, true],
  7: ["blockOwnerDeletion", "bool", false, true],
});
const objectMeta = schema("ObjectMeta", {
  1: ["name", "string"],
  2: ["generateName", "string"],
  3: ["namespace", "string"],
  4: ["selfLink", "string"],
  5: ["uid", "string"],
  6: ["resourceVersion", "string"],
  7: ["generation", "int"],
  8: ["creationTimestamp", "time"],
  9: ["deletionTimestamp", "time"],
  10: ["deletionGracePeriodSeconds", "int", false, true],
  11: ["labels", { map: "string" }],
  12: ["annotations", { map: "string" }],
  13: ["ownerReferences", ownerReference, true],
  14: ["finalizers", "string", true],
});
const labelSelector = schema("LabelSelector", {
  1: ["matchLabels", { map: "string" }],
  2: [
    "matchExpressions",
    schema("LabelSelectorRequirement", {
      1: ["key", "string"],
      2: ["operator", "string"],
      3: ["values", "string", true],
    }),
    true,
  ],
});
const container = schema("Container", {
  1: ["name", "string"],
  2: ["image", "string"],
  3: ["command", "string", true],
  4: ["args", "string", true],
  5: ["workingDir", "string"],
  6: [
    "ports",
    schema("ContainerPort", {
      1: ["name", "string"],
      2: ["hostPort", "int"],
      3: ["containerPort", "int"],
      4: ["protocol", "string"],
      5: ["hostIP", "string"],
    }),
    true,
  ],
  7: ["env", schema("EnvVar", { 1: ["name", "string"], 2: ["value", "string"] }), true],
  8: [
    "resources",
    schema("ResourceRequirements", {
      1: ["limits", { map: "quantity" }],
      2: ["requests", { map: "quantity" }],
    }),
  ],
  13: ["terminationMessagePath", "string"],
  14: ["imagePullPolicy", "string"],
  16: ["stdin", "bool"],
  17: ["stdinOnce", "bool"],
  18: ["tty", "bool"],
  20: ["terminationMessagePolicy", "string"],
});
const podSpec = schema("PodSpec", {
  2: ["containers", container, true],
  3: ["restartPolicy", "string"],
  4: ["terminationGracePeriodSeconds", "int", false, true],
  6: ["dnsPolicy", "string"],
  7: ["nodeSelector", { map: "string" }],
  8: ["serviceAccountName", "string"],
  9: ["serviceAccount", "string"],
  10: ["nodeName", "string"],
  11: ["hostNetwork", "bool"],
  16: ["hostname", "string"],
  17: ["subdomain", "string"],
  19: ["schedulerName", "string"],
  20: ["initContainers", container, true],
});
const podTemplateSpec = schema("PodTemplateSpec", { 1: ["metadata", objectMeta], 2: ["spec", podSpec] });

const kinds: Record<string, Schema> = {
  "v1/Namespace": schema("Namespace", {
    1: ["metadata", objectMeta],
    2: ["spec", schema("NamespaceSpec", { 1: ["finalizers", "string", true] })],
    3: ["status", schema("NamespaceStatus", { 1: ["phase", "string"] })],
  }),
  "v1/ConfigMap": schema("ConfigMap", {
    1: ["metadata", objectMeta],
    2: ["data", { map: "string" }],
    3: ["binaryData", { map: "bytes" }],
    4: ["immutable", "bool", false, true],
  }),
  "v1/Secret": schema("Secret", {
    1: ["metadata", objectMeta],
    2: ["data", { map: "bytes" }],
    3: ["type", "string"],
    4: ["stringData", { map: "string" }],
    5: ["immutable", "bool", false, true],
  }),
  "v1/ServiceAccount": schema("ServiceAccount", {
    1: ["metadata", objectMeta],
    4: ["automountServiceAccountToken", "bool", false, true],
  }),
  "v1/Service": schema("Service", {
    1: ["metadata", objectMeta],
    2: [
      "spec",
      schema("ServiceSpec", {
        1: [
          "ports",
          schema("ServicePort", {
            1: ["name", "string"],
            2: ["protocol", "string"],
            3: ["port", "int"],
            4: ["targetPort", "intstr"],
            5: ["nodePort", "int"],
            6: ["appProtocol", "string"],
          }),
          true,
        ],
        2: ["selector", { map: "string" }],
        3: ["clusterIP", "string"],
        4: ["type", "string"],
        5: ["externalIPs", "string", true],
        7: ["sessionAffinity", "string"],
        8: ["loadBalancerIP", "string"],
        10: ["externalName", "string"],
        11: ["externalTrafficPolicy", "string"],
        17: ["ipFamilyPolicy", "string"],
        18: ["clusterIPs", "string", true],
        19: ["ipFamilies", "string", true],
        22: ["internalTrafficPolicy", "string"],
      }),
    ],
    3: ["status", schema("ServiceStatus", {})],
  }),
  "apps/v1/Deployment": schema("Deployment", {
    1: ["metadata", objectMeta],
    2: [
      "spec",
      schema("DeploymentSpec", {
        1: ["replicas", "int", false, true],
        2: ["selector", labelSelector],
        3: ["template", podTemplateSpec],
        4: ["strategy", schema("DeploymentStrategy", { 1: ["type", "string"] })],
        5: ["minReadySeconds", "int"],
        6: ["revisionHistoryLimit", "int", false, true],
        7: ["paused", "bool"],
        9: ["progressDeadlineSeconds", "int", false, true],
      }),
    ],
    3: ["status", schema("DeploymentStatus", {})],
  }),
};

function unsupported(what: string): StatusError {
  return new StatusError(
    415,
    "UnsupportedMediaType",
    `not supported yet: ${what} in ${PROTOBUF_CONTENT_TYPE}; send JSON`,
  );
}

/** A protobuf wire reader: varints, length-delimited fields, fixed 32/64-bit skipped. */
class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length || shift > 63n) throw unsupported("a malformed varint");
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  }
  bytes(): Uint8Array {
    const len = Number(this.varint());
    if (this.pos + len > this.buf.length) throw unsupported("a truncated message");
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
}

const text = (b: Uint8Array) => Buffer.from(b).toString("utf8");

/** The fields of one message as (number → raw values), in order. */
function fieldsOf(buf: Uint8Array, where: string): Map<number, (bigint | Uint8Array)[]> {
  const r = new Reader(buf);
  const out = new Map<number, (bigint | Uint8Array)[]>();
  while (!r.done) {
    const tag = Number(r.varint());
    const field = tag >>> 3;
    const wire = tag & 7;
    let value: bigint | Uint8Array;
    if (wire === 0) value = r.varint();
    else if (wire === 2) value = r.bytes();
    else throw unsupported(`wire type ${wire} in ${where}`);
    const list = out.get(field) ?? [];
    list.push(value);
    out.set(field, list);
  }
  return out;
}

function asBytes(v: bigint | Uint8Array, where: string): Uint8Array {
  if (typeof v === "bigint") throw unsupported(`a number where ${where} needs bytes`);
  return v;
}

function signed64(v: bigint): number {
  return Number(BigInt.asIntN(64, v));
}

function decodeScalar(type: FieldType, v: bigint | Uint8Array, where: string): unknown {
  if (type === "string") return text(asBytes(v, where));
  if (type === "bytes") return Buffer.from(asBytes(v, where)).toString("base64");
  if (type === "bool") return v === 1n;
  if (type === "int") {
    if (typeof v !== "bigint") throw unsupported(`bytes where ${where} needs a number`);
    return signed64(v);
  }
  if (type === "time") {
    const f = fieldsOf(asBytes(v, where), where);
    const seconds = f.get(1)?.[0];
    if (seconds === undefined || seconds === 0n) return undefined;
    return `${new Date(signed64(seconds as bigint) * 1000).toISOString().slice(0, 19)}Z`;
  }
  if (type === "quantity") return text(asBytes(f1(v, where), where));
  if (type === "intstr") {
    const f = fieldsOf(asBytes(v, where), where);
    const kind = f.get(1)?.[0] ?? 0n;
    if (kind === 1n) return text(asBytes(f.get(3)?.[0] ?? new Uint8Array(), where));
    return signed64((f.get(2)?.[0] as bigint | undefined) ?? 0n);
  }
  return decodeMessage(type as Schema, asBytes(v, where));
}

/** A Quantity is a message whose field 1 is its string form. */
function f1(v: bigint | Uint8Array, where: string): Uint8Array {
  return asBytes(fieldsOf(asBytes(v, where), where).get(1)?.[0] ?? new Uint8Array(), where);
}

function isZero(v: unknown): boolean {
  if (v === undefined || v === "" || v === 0 || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (v && typeof v === "object") return Object.keys(v).length === 0;
  return false;
}

function decodeMessage(s: Schema, buf: Uint8Array): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [num, values] of fieldsOf(buf, s.name)) {
    const spec = s.fields[num];
    if (!spec) {
      // Go's protobuf marshalling sends every non-pointer field, set or not: an empty one says nothing.
      const empty = values.every((v) => (typeof v === "bigint" ? v === 0n : v.length === 0));
      if (empty) continue;
      throw unsupported(`field ${num} of ${s.name}`);
    }
    const [name, type, repeated, keepZero] = spec;
    const where = `${s.name}.${name}`;
    let value: unknown;
    if (typeof type === "object" && "map" in type) {
      const map: Record<string, unknown> = {};
      for (const entry of values) {
        const f = fieldsOf(asBytes(entry, where), where);
        const key = text(asBytes(f.get(1)?.[0] ?? new Uint8Array(), where));
        const raw = f.get(2)?.[0] ?? new Uint8Array();
        map[key] = decodeScalar(type.map, raw, where);
      }
      value = map;
    } else if (repeated) value = values.map((v) => decodeScalar(type, v, where));
    else value = decodeScalar(type, values[values.length - 1]!, where);
    // Go's JSON omits empty fields (omitempty); protobuf sends them. A pointer field keeps its zero.
    if (keepZero ? value !== undefined : !isZero(value)) out[name] = value;
  }
  return out;
}

const MAGIC = [0x6b, 0x38, 0x73, 0x00];

/** A protobuf request body (the `k8s\0` envelope around runtime.Unknown) as the JSON object it stands for. */
export function decodeProtobufObject(body: Uint8Array): Record<string, unknown> {
  if (body.length < 4 || MAGIC.some((b, i) => body[i] !== b))
    throw unsupported("a body without the k8s envelope");
  const unknown = fieldsOf(body.subarray(4), "Unknown");
  const typeMeta = fieldsOf(asBytes(unknown.get(1)?.[0] ?? new Uint8Array(), "typeMeta"), "TypeMeta");
  const apiVersion = text(asBytes(typeMeta.get(1)?.[0] ?? new Uint8Array(), "apiVersion"));
  const kind = text(asBytes(typeMeta.get(2)?.[0] ?? new Uint8Array(), "kind"));
  const encoding = unknown.get(3)?.[0];
  if (encoding !== undefined && text(asBytes(encoding, "contentEncoding")) !== "")
    throw unsupported("a content encoding");
  const s = kinds[`${apiVersion}/${kind}`];
  if (!s) throw unsupported(`kind ${kind} (${apiVersion})`);
  const object = decodeMessage(s, asBytes(unknown.get(2)?.[0] ?? new Uint8Array(), "raw"));
  return { apiVersion, kind, ...object };
}
