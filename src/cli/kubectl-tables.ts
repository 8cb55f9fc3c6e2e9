import type { ApiObject, KindDef } from "../api/index.ts";
import { formatTableLabels, toTable } from "../server/index.ts";

/** `-L KEY`: kubectl's column headed by the key's last path segment, upper-cased; the label's value or nothing. */
function labelColumn(key: string): [heading: string, value: (labels?: Record<string, string>) => string] {
  return [key.split("/").pop()!.toUpperCase(), (labels) => labels?.[key] ?? ""];
}

/**
 * The rows `kubectl get` prints, header first, from the API server's Table for the objects: as kubectl's table
 * printer does, it upper-cases the column names, keeps priority-1 columns for `-o wide` only, and adds the
 * NAMESPACE (`-A`), `-L` and `--show-labels` columns from each row's object metadata.
 */
export function kubectlTable(
  def: KindDef,
  objects: ApiObject[],
  opts: { wide: boolean; withNamespace: boolean; now: Date; showLabels?: boolean; labelColumns?: string[] },
): string[][] {
  const table = toTable(def, objects, { now: opts.now, includeObject: "Metadata" });
  const shown = table.columnDefinitions.map((c) => opts.wide || c.priority === 0);
  const labelColumns = (opts.labelColumns ?? []).map(labelColumn);
  const header = [
    ...(opts.withNamespace ? ["NAMESPACE"] : []),
    ...table.columnDefinitions.filter((_, i) => shown[i]).map((c) => c.name.toUpperCase()),
    ...labelColumns.map(([h]) => h),
    ...(opts.showLabels ? ["LABELS"] : []),
  ];
  const rows = table.rows.map((row) => {
    const metadata = row.object?.metadata ?? {};
    return [
      ...(opts.withNamespace ? [metadata.namespace ?? ""] : []),
      ...row.cells.filter((_, i) => shown[i]).map((cell) => String(cell)),
      ...labelColumns.map(([, value]) => value(metadata.labels)),
      ...(opts.showLabels ? [formatTableLabels(metadata.labels)] : []),
    ];
  });
  return [header, ...rows];
}
