/**
 * Tables as github.com/olekukonko/tablewriter draws them with its defaults, which calicoctl's ipam commands
 * use: +---+ borders, headers centred, cells that look like plain numbers right-aligned and all others left.
 */
const NUMERIC = /^-?(?:\d{1,3}(?:,\d{3})*|\d+)(?:\.\d+)?$/;

export function boxTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = `+${widths.map((w) => "-".repeat(w + 2)).join("+")}+\n`;
  const center = (s: string, w: number) => {
    const gap = w - s.length;
    const left = Math.floor(gap / 2);
    return " ".repeat(left) + s + " ".repeat(gap - left);
  };
  const cell = (s: string, w: number) => (NUMERIC.test(s.trim()) ? s.padStart(w) : s.padEnd(w));
  let out = line;
  out += `|${header.map((h, i) => ` ${center(h, widths[i]!)} `).join("|")}|\n`;
  out += line;
  for (const r of rows) out += `|${widths.map((w, i) => ` ${cell(r[i] ?? "", w)} `).join("|")}|\n`;
  return out + line;
}
