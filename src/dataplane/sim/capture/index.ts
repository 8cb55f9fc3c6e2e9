export { compileFilter, FilterError, type FilterPacket, type PacketFilter } from "./filter.ts";
export { type LinkFrame, type PrintOptions, TcpdumpPrinter } from "./print.ts";
