/**
 * The cluster DNS zone as the linux dataplane hands it to the real DNS process: a JSON file holding a
 * `DnsZoneSpec` ({domain, serial, records}). A reprogram only rewrites the file; the server re-reads it when its
 * modification time (or size, or inode: an atomic rename) changes, so no restart is needed.
 */
import { readFileSync, statSync } from "node:fs";
import type { DnsZone, ZoneRecord } from "./dns.ts";

const RECORD_TYPES = new Set(["A", "AAAA", "CNAME", "SRV", "PTR", "NS", "SOA"]);

function isRecord(v: unknown): v is ZoneRecord {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  return (
    typeof r.name === "string" &&
    typeof r.type === "string" &&
    RECORD_TYPES.has(r.type) &&
    typeof r.ttl === "number" &&
    typeof r.data === "string"
  );
}

/**
 * `records` as calc.clusterDnsZone's Map serialises: an object (name → records), an array of [name, records]
 * entries, or a flat array of records (grouped here by name). Names are absolute and lower case.
 */
function recordsFrom(value: unknown): Map<string, ZoneRecord[]> {
  const flat: unknown[] = [];
  if (Array.isArray(value)) {
    for (const item of value) {
      if (Array.isArray(item) && item.length === 2 && Array.isArray(item[1])) flat.push(...item[1]);
      else flat.push(item);
    }
  } else if (typeof value === "object" && value !== null) {
    for (const list of Object.values(value)) {
      if (!Array.isArray(list)) throw new Error("zone records: each name must map to a list of records");
      flat.push(...list);
    }
  } else {
    throw new Error("zone records: expected an object or a list");
  }
  const zone = new Map<string, ZoneRecord[]>();
  for (const r of flat) {
    if (!isRecord(r)) throw new Error(`zone records: not a record: ${JSON.stringify(r).slice(0, 120)}`);
    const name = (r.name.endsWith(".") ? r.name : `${r.name}.`).toLowerCase();
    zone.set(name, [...(zone.get(name) ?? []), { ...r, name }]);
  }
  return zone;
}

/** Parses a zone file's text; throws one-line errors. */
export function parseZoneFile(text: string): DnsZone {
  const spec = JSON.parse(text) as { domain?: unknown; serial?: unknown; records?: unknown };
  if (typeof spec.domain !== "string" || spec.domain.replace(/\.$/, "") === "")
    throw new Error("zone: `domain` must be a domain name");
  if (typeof spec.serial !== "number" || !Number.isInteger(spec.serial) || spec.serial < 0)
    throw new Error("zone: `serial` must be a non-negative integer");
  const domain = `${spec.domain.replace(/\.$/, "").toLowerCase()}.`;
  return { domain, serial: spec.serial, records: recordsFrom(spec.records ?? {}) };
}

/**
 * A zone file read on first use and again whenever it changed. A file that cannot be read or parsed later
 * (a writer mid-way, a bad edit) keeps the last good zone and reports once per change through `warn`.
 */
export class WatchedZoneFile {
  private zone: DnsZone;
  private stamp: string;
  private warnedStamp: string | undefined;

  /** Reads the file now: a missing or invalid zone at start is an error (thrown, one line). */
  constructor(
    readonly path: string,
    private readonly warn: (line: string) => void = () => {},
  ) {
    try {
      this.stamp = this.currentStamp();
      this.zone = parseZoneFile(readFileSync(path, "utf8"));
    } catch (e) {
      throw new Error(`cannot read the DNS zone ${path}: ${(e as Error).message}`);
    }
  }

  private currentStamp(): string {
    const s = statSync(this.path);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  }

  /** The zone as the file holds it now. */
  current(): DnsZone {
    let stamp: string;
    try {
      stamp = this.currentStamp();
    } catch (e) {
      this.report("missing", `cannot stat the DNS zone ${this.path}: ${(e as Error).message}`);
      return this.zone;
    }
    if (stamp === this.stamp) return this.zone;
    try {
      this.zone = parseZoneFile(readFileSync(this.path, "utf8"));
      this.stamp = stamp;
    } catch (e) {
      this.report(stamp, `keeping the last good DNS zone: ${this.path}: ${(e as Error).message}`);
    }
    return this.zone;
  }

  private report(stamp: string, line: string): void {
    if (this.warnedStamp === stamp) return;
    this.warnedStamp = stamp;
    this.warn(line);
  }
}
