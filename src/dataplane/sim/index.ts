export { Conntrack, type ConntrackEntry } from "./conntrack.ts";
export { formatRoutes, type Route } from "./fib.ts";
export { formatIpv4, maskOf, parseIpv4, parseIpv4Prefix } from "./ipv4.ts";
export { type Address, Kernel, type Link, type Segment, type ServerSocket } from "./kernel.ts";
export { Netfilter, RestoreError, ruleSaveText, type TableName } from "./netfilter/index.ts";
export { type Delivery, joinSegment, Network, type Trace } from "./network.ts";
export { type ExchangeResult, ping, tcpExchange, udpExchange } from "./transport.ts";
