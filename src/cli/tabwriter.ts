/**
 * Go's text/tabwriter for uniform tables. kubectl uses minwidth 6 / padding 3 and leaves the last cell
 * unterminated (no trailing spaces); calicoctl uses minwidth 5 / padding 3 and terminates every cell.
 */
export interface TabwriterStyle {
  minWidth: number;
  padding: number;
  terminateLastCell: boolean;
}

export const KUBECTL_STYLE: TabwriterStyle = { minWidth: 6, padding: 3, terminateLastCell: false };
export const CALICOCTL_STYLE: TabwriterStyle = { minWidth: 5, padding: 3, terminateLastCell: true };

export function formatTable(rows: string[][], style: TabwriterStyle): string {
  const columns = Math.max(0, ...rows.map((r) => r.length));
  const widths: number[] = [];
  for (let c = 0; c < columns; c++) {
    const padded = c < columns - 1 || style.terminateLastCell;
    if (!padded) continue;
    const text = Math.max(0, ...rows.map((r) => [...(r[c] ?? "")].length));
    widths[c] = Math.max(style.minWidth, text + style.padding);
  }
  return rows
    .map((r) =>
      r
        .map((cell, c) => (widths[c] === undefined ? cell : cell + " ".repeat(widths[c]! - [...cell].length)))
        .join(""),
    )
    .map((line) => `${line}\n`)
    .join("");
}
