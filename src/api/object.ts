/** The shape every stored resource shares; specs are plain JSON validated per kind. */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Record<string, unknown>[];
  finalizers?: string[];
}

export interface ApiObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  // biome-ignore lint/suspicious/noExplicitAny: specs are plain JSON checked by each kind's schema
  spec?: any;
  // biome-ignore lint/suspicious/noExplicitAny: status is plain JSON written by controllers
  status?: any;
  [field: string]: unknown;
}

export function objectName(o: ApiObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : (o.metadata.name ?? "");
}
