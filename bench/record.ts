/**
 * What a bench row function reports, and how `npm run bench` folds repeated runs of a row into a median and a
 * range, with the row's anchor (a reference measured in the same run: the real kubectl's start-up, the naive
 * evaluator, the store's floor, the kernel's iptables-restore, the calibration loop) beside it.
 */

/** A reference figure measured in the same run as the row it anchors. */
export interface Anchor {
  what: string;
  ms: number;
  /** When set, the row and its anchor are compared per object (ms / count), not in total. */
  count?: number;
}

/**
 * Row functions call this once per measurement. `anchor` is optional: run.ts gives rows without one their
 * section's anchor, if the section has one.
 */
export type RecordRow = (what: string, count: number, ms: number, extra?: string, anchor?: Anchor) => void;

/** One call of RecordRow in one run of a section. */
export interface Sample {
  section: string;
  run: number;
  what: string;
  count: number;
  ms: number;
  extra: string;
  anchor?: Anchor;
}

/** A row folded over runs: every run's time, and every run's anchor time (same run, same order). */
export interface Row {
  section: string;
  what: string;
  count: number;
  ms: number[];
  /** The notes of the run whose time is the median. */
  extra: string;
  anchorWhat?: string;
  anchorCount?: number;
  anchorMs: number[];
  /** ms / anchor ms (per object when the anchor has a count), per run that had both. */
  ratios: number[];
  perObject: boolean;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error("median of no values");
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Folds samples into rows by (section, measurement), keeping the order in which rows first appeared. */
export function foldRuns(samples: readonly Sample[]): Row[] {
  const rows = new Map<string, { row: Row; extras: { ms: number; extra: string }[] }>();
  for (const s of samples) {
    const key = `${s.section}\u0000${s.what}`;
    let r = rows.get(key);
    if (!r) {
      r = {
        row: {
          section: s.section,
          what: s.what,
          count: s.count,
          ms: [],
          extra: "",
          anchorMs: [],
          ratios: [],
          perObject: false,
        },
        extras: [],
      };
      rows.set(key, r);
    }
    r.row.ms.push(s.ms);
    r.extras.push({ ms: s.ms, extra: s.extra });
    if (s.anchor) {
      r.row.anchorWhat ??= s.anchor.what;
      r.row.anchorCount ??= s.anchor.count;
      r.row.anchorMs.push(s.anchor.ms);
      const a = s.anchor;
      if (a.count !== undefined && a.count > 0 && s.count > 0) {
        r.row.perObject = true;
        if (a.ms > 0) r.row.ratios.push(s.ms / s.count / (a.ms / a.count));
      } else if (a.ms > 0) r.row.ratios.push(s.ms / a.ms);
    }
  }
  const out: Row[] = [];
  for (const { row, extras } of rows.values()) {
    const m = median(row.ms);
    let best = extras[0]!;
    for (const e of extras) if (Math.abs(e.ms - m) < Math.abs(best.ms - m)) best = e;
    row.extra = best.extra;
    out.push(row);
  }
  return out;
}

export function formatMs(ms: number): string {
  if (ms >= 100) return `${Math.round(ms).toLocaleString("en-US")} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

function formatRange(xs: readonly number[]): string {
  if (xs.length < 2) return "(1 run)";
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  const spread = lo > 0 ? ` ±${(((hi - lo) / 2 / median(xs)) * 100).toFixed(0)}%` : "";
  return `${formatMs(lo).replace(/ ms$/, "")}–${formatMs(hi)}${spread}`;
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

/** The Markdown table `npm run bench` prints (to be pasted into docs/PERFORMANCE.md). */
export function markdownTable(rows: readonly Row[]): string {
  const lines = [
    "| section | measurement | objects | median | range (min–max) | rate at median | anchor, same run: median | × anchor | notes |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    const m = median(r.ms);
    const perSecond = (r.count / m) * 1000;
    // Below 10/s a whole number hides the figure (0.49/s printed as 0/s): two significant digits there.
    const rateText =
      perSecond < 10 ? perSecond.toPrecision(2) : Math.round(perSecond).toLocaleString("en-US");
    const rate = r.count > 1 && m > 0 ? `${rateText}/s` : "";
    const per = r.anchorCount !== undefined ? ` for ${r.anchorCount.toLocaleString("en-US")}` : "";
    const anchor = r.anchorWhat !== undefined ? `${r.anchorWhat}: ${formatMs(median(r.anchorMs))}${per}` : "";
    const ratio =
      r.ratios.length > 0 ? `${formatRatio(median(r.ratios))}${r.perObject ? " per object" : ""}` : "";
    lines.push(
      `| ${[r.section, r.what, String(r.count), formatMs(m), formatRange(r.ms), rate, anchor, ratio, r.extra]
        .map(escapeCell)
        .join(" | ")} |`,
    );
  }
  return lines.join("\n");
}

function formatRatio(x: number): string {
  if (x >= 10) return `${x.toFixed(0)}×`;
  if (x >= 1) return `${x.toFixed(1)}×`;
  if (x >= 0.1) return `${x.toFixed(2)}×`;
  return `${Number(x.toPrecision(2))}×`;
}
