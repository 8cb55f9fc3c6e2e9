import type { ApiObject, KindDef } from "../api/index.ts";
import {
  ageColumn,
  BUILT_IN_TABLES,
  type Cell,
  type Column,
  nameColumn,
  TIGERA_STATUS_TABLE,
} from "./table-columns.ts";

export type IncludeObject = "None" | "Metadata" | "Object";

/** A `meta.k8s.io/v1` Table row: its cells and the object in the form `includeObject` asked for. */
export interface TableRow {
  cells: Cell[];
  object?: ApiObject;
}

export interface Table {
  kind: "Table";
  apiVersion: "meta.k8s.io/v1";
  metadata: { resourceVersion?: string };
  columnDefinitions: { name: string; type: string; format: string; description: string; priority: number }[];
  rows: TableRow[];
}

/** Kinds the API server has printers for: the built-in groups (core, apps, *.k8s.io). */
function isBuiltIn(def: KindDef): boolean {
  return def.group === "" || def.group === "apps" || def.group.endsWith("k8s.io");
}

/**
 * The columns of a kind's table. Built-in kinds use the API server's printers; TigeraStatus its CRD's printer
 * columns; every other kind (Calico's, which tortie serves as an API group) the default of Name and Age.
 */
export function tableColumns(def: KindDef): Column[] {
  if (isBuiltIn(def)) return BUILT_IN_TABLES[def.kind] ?? [nameColumn, ageColumn];
  if (def.kind === "TigeraStatus") return TIGERA_STATUS_TABLE;
  return [nameColumn, ageColumn];
}

/** The object a row carries: PartialObjectMetadata (the default), the whole object, or nothing. */
function rowObject(o: ApiObject, include: IncludeObject): ApiObject | undefined {
  if (include === "None") return undefined;
  if (include === "Object") return o;
  return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata };
}

/**
 * The `meta.k8s.io/v1` Table the API server answers `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` with;
 * both kubectls print from it (kubectl upper-cases the names, hides priority-1 columns without `-o wide`, and
 * adds NAMESPACE, `-L` and `--show-labels` columns itself).
 */
export function toTable(
  def: KindDef,
  objects: ApiObject[],
  o: { now: Date; includeObject?: IncludeObject; resourceVersion?: string },
): Table {
  const columns = tableColumns(def);
  const include = o.includeObject ?? "Metadata";
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: o.resourceVersion === undefined ? {} : { resourceVersion: o.resourceVersion },
    columnDefinitions: columns.map((c) => ({
      name: c.name,
      type: c.type,
      format: c === nameColumn ? "name" : "",
      description: c.description,
      priority: c.priority,
    })),
    rows: objects.map((object) => {
      const row: TableRow = { cells: columns.map((c) => c.cell(object, o.now)) };
      const carried = rowObject(object, include);
      if (carried) row.object = carried;
      return row;
    }),
  };
}
