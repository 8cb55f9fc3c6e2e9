/**
 * kube-proxy's nft tables (nftables mode) for the cheap drift check. `nft list` prints a table in another form
 * than the `nft -f` script that made it (declarations merged, timeouts as `3h`, sizes added), so there is no
 * cheap exact comparison with the rendered script; instead the listing the kernel printed right after tortie
 * loaded the script is kept as a digest in the record, and the check compares the listing now with it.
 * Stateless (`nft -s`: no counter values), and without the elements of dynamic sets (kube-proxy's session
 * affinity sets, which packets fill).
 */
import { createHash } from "node:crypto";
import { nftTables } from "./ip-commands.ts";

/** The `nft -s list table` arguments for each table the script creates. */
export function nftListArgs(script: string): string[][] {
  return nftTables(script).map((t) => ["-s", "list", "table", ...t.split(" ")]);
}

/** The listing without what packets change: the `elements = { … }` of sets whose flags say `dynamic`. */
export function stableNftListing(listing: string): string {
  const out: string[] = [];
  let block: string[] | undefined;
  const flush = () => {
    if (!block) return;
    const dynamic = block.some((l) => /^\s*flags\s.*\bdynamic\b/.test(l));
    let inElements = false;
    for (const l of block) {
      if (dynamic && /^\s*elements = \{/.test(l)) inElements = true;
      if (!inElements) out.push(l);
      if (inElements && /\}\s*$/.test(l)) inElements = false;
    }
    block = undefined;
  };
  for (const line of listing.split("\n")) {
    if (/^\s*(set|map)\s+\S+\s*\{\s*$/.test(line)) {
      flush();
      block = [line];
    } else if (block) {
      block.push(line);
      if (/^\s*\}\s*$/.test(line)) {
        // A set's closing brace is indented like its `set` line; an element list's closing brace ends its own line.
        const indent = (s: string) => /^\s*/.exec(s)![0].length;
        if (indent(line) === indent(block[0]!)) flush();
      }
    } else out.push(line);
  }
  flush();
  return out.join("\n").trim();
}

export function nftDigest(listing: string): string {
  return createHash("sha256").update(stableNftListing(listing)).digest("hex");
}
