import { TortieError } from "../lib/index.ts";
import {
  checkHeader,
  checkRecord,
  type LogHeader,
  type LogRecord,
  openSealed,
  RECOVERY,
} from "./wal-format.ts";

/**
 * Checks the lines of one write-ahead log in order: the header first, then records whose revisions count up by
 * one from its base, each sealed (format 2; in a format-1 log, every record after the first sealed one). It keeps
 * where it is, so a reader can feed it the lines other processes appended since.
 */
export class WalScanner {
  /** The revision of the last record seen (the header's base before any). */
  lastRev = 0;
  /** Complete lines seen. */
  lines = 0;
  header: LogHeader | undefined;
  private sealedSeen = false;

  constructor(private readonly path: string) {}

  /** A fresh log just written with this header (by us). */
  started(base: number): void {
    this.header = { base, format: 2 };
    this.lastRev = base;
    this.lines = 1;
    this.sealedSeen = false;
  }

  /** Records we appended ourselves (sealed, in order). */
  appended(recs: LogRecord[]): void {
    this.lines += recs.length;
    this.lastRev = recs[recs.length - 1]!.r;
    this.sealedSeen = true;
  }

  /** The error for damage at `offset` (the next line), naming the file, line, byte and revision. */
  damaged(offset: number, why: string, revision?: number, line = this.lines + 1): TortieError {
    const where = `line ${line} (byte ${offset}${revision === undefined ? "" : `, revision ${revision}`})`;
    return new TortieError("Internal", `store log ${this.path} is damaged at ${where}: ${why}; ${RECOVERY}`);
  }

  /**
   * Checks the next complete line (without its newline), starting at byte `offset` of the log. Returns the
   * header or the record; throws the damage otherwise. Every complete line is checked: tortie writes each batch
   * with its newline last, so a crash leaves a last line without one (the caller's torn tail), never a complete
   * line that fails. A last line holding NUL bytes (blocks a power cut left unwritten) is damage too, but the
   * message says how to drop just it: it was never acknowledged, or it was and then damaged; only a person can tell.
   */
  next(line: Buffer, offset: number, isLastLine: boolean): LogHeader | LogRecord {
    if (offset === 0) {
      let value: unknown;
      try {
        value = JSON.parse(line.toString("utf8"));
      } catch {
        throw this.damaged(0, 'the first line is not a header ({"base":N,"format":2})');
      }
      const h = checkHeader(value);
      if (typeof h === "string") throw this.damaged(0, h);
      this.header = h;
      this.lastRev = h.base;
      this.lines = 1;
      return h;
    }
    const expected = this.lastRev + 1;
    const opened = openSealed(line);
    if (!opened.ok) {
      if (line.includes(0))
        throw this.damaged(
          offset,
          `the record holds NUL bytes (blocks a power cut left unwritten?)${
            isLastLine
              ? `; it is the last record, and if it is the only damage, \`truncate -s ${offset} ${this.path}\` drops it alone`
              : ""
          }`,
          expected,
        );
      throw this.damaged(offset, opened.why, expected);
    }
    const v = opened.value;
    if (typeof v !== "object" || v === null || Array.isArray(v))
      throw this.damaged(offset, "the record is not a JSON object", expected);
    if (opened.sealed) this.sealedSeen = true;
    else if (this.header?.format === 2) throw this.damaged(offset, "the record has no checksum", expected);
    else if (this.sealedSeen)
      throw this.damaged(offset, "the record has no checksum, but the records before it have", expected);
    const rec = checkRecord(v, expected);
    if (typeof rec === "string") throw this.damaged(offset, rec, expected);
    this.lastRev = rec.r;
    this.lines++;
    return rec;
  }
}
