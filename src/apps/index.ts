export type { AppEnvironment, AppListener, AppRequest } from "./app.ts";
export { appsForImage } from "./app-images.ts";
export { curlError, curlFetch, FETCH_MAX_TIME_S } from "./curl-fetch.ts";
export { answerDnsQuery, type DnsZone, dnsServer, type ZoneRecord } from "./dns.ts";
export {
  DNS_TYPES,
  DnsFormatError,
  type DnsMessage,
  type DnsQuestion,
  type DnsResource,
  decodeDnsMessage,
  dnsQueryMessage,
  encodeDnsMessage,
  RCODE,
  rcodeName,
  typeName,
} from "./dns-message.ts";
export { hostServices } from "./host-services.ts";
export { formatRequest, parseResponse } from "./http.ts";
export { nginx } from "./nginx.ts";
export {
  HOST_SERVICES_IMAGE,
  imageHasApp,
  isHostServicesImage,
  realListenersForImage,
} from "./real-apps.ts";
export { type Framing, ListenError, type RealListener, type RealServers, serveReal } from "./serve-real.ts";
export { yaobankCustomer, yaobankDatabase, yaobankSummary } from "./yaobank.ts";
export { parseZoneFile, WatchedZoneFile } from "./zone-file.ts";
