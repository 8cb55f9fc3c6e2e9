/** FNV-1 (not 1a) 32-bit over the UTF-8 bytes: Go's hash/fnv.New32, which Calico seeds its block walk with. */
export function fnv1Hash32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    hash = Math.imul(hash, 0x01000193) >>> 0;
    hash = (hash ^ byte) >>> 0;
  }
  return hash;
}
