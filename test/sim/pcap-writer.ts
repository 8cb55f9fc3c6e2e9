/** A classic pcap file (LINKTYPE_RAW: each record an IPv4 datagram), for feeding the sim's packets to tcpdump -r. */
export function pcapFile(datagrams: Uint8Array[]): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(101, 20);
  const records = datagrams.map((d, i) => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(0, 0);
    r.writeUInt32LE(i, 4);
    r.writeUInt32LE(d.length, 8);
    r.writeUInt32LE(d.length, 12);
    return Buffer.concat([r, Buffer.from(d)]);
  });
  return Buffer.concat([header, ...records]);
}
