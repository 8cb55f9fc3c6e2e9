/**
 * Go's text/tabwriter with kubectl describe's settings (minwidth 0, padding 2, padded with spaces, no flags).
 * Unlike formatTable (uniform tables), columns align per block: a column's block is the run of consecutive lines
 * that have a tab-terminated cell in it, so `Name:\tx` lines align with each other but not across a line without
 * a tab (`Containers:`). A line's text after its last tab is not part of any column.
 */
export function goTabwriter(text: string, padding = 2): string {
  const lines = text.split("\n");
  const last = lines.pop(); // "" after a final newline; otherwise an unterminated last line
  const cells = lines.map((l) => l.split("\t"));
  const width = (s: string) => [...s].length;
  const out: string[] = [];
  const widths: number[] = [];

  const writeLines = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const line = cells[i]!;
      out.push(
        line
          .map((cell, j) => (j < widths.length ? cell + " ".repeat(widths[j]! - width(cell)) : cell))
          .join(""),
      );
    }
  };

  // text/tabwriter's format(): find each block of lines with a cell in the next column, size it, recurse.
  const format = (line0: number, line1: number) => {
    const column = widths.length;
    let start = line0;
    for (let current = line0; current < line1; current++) {
      if (column >= cells[current]!.length - 1) continue;
      writeLines(start, current);
      start = current;
      let w = 0;
      for (; current < line1; current++) {
        const line = cells[current]!;
        if (column >= line.length - 1) break;
        w = Math.max(w, width(line[column]!) + padding);
      }
      widths.push(w);
      format(start, current);
      widths.pop();
      start = current;
      current--; // the loop's increment moves on to the line that ended the block
    }
    writeLines(start, line1);
  };
  format(0, cells.length);
  return out.map((l) => `${l}\n`).join("") + (last ?? "");
}
