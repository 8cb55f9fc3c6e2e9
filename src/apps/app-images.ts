import type { AppListener } from "./app.ts";
import { nginx } from "./nginx.ts";
import { yaobankCustomer, yaobankDatabase, yaobankSummary } from "./yaobank.ts";

/** The behaviour a container image stands for, by image name (tag ignored); undefined for images tortie does not emulate. */
export function appsForImage(image: string): AppListener[] | undefined {
  const name = image
    .replace(/[:@].*$/, "")
    .replace(/^docker\.io\//, "")
    .replace(/^library\//, "");
  if (name === "nginx" || name.endsWith("/nginx")) return [nginx];
  if (name.endsWith("yaobank-customer")) return [yaobankCustomer];
  if (name.endsWith("yaobank-summary")) return [yaobankSummary];
  if (name.endsWith("yaobank-database")) return [yaobankDatabase];
  return undefined;
}
