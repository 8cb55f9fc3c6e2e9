export { compileFilter, FilterError, type FilterPacket, type PacketFilter } from "./filter.ts";
export { formatTimestamp, type LinkFrame, type PrintOptions, TcpdumpPrinter } from "./print.ts";
