import { readFileSync } from "node:fs";

/** Sample applications `tortie up --app NAME` deploys (the lab's manifests, shipped with tortie). */
const APPS: Record<string, { file: string; namespace: string }> = {
  yaobank: { file: "yaobank.yaml", namespace: "yaobank" },
};

export function bundledAppNames(): string[] {
  return Object.keys(APPS);
}

export function bundledApp(name: string): { text: string; source: string; namespace: string } | undefined {
  const app = APPS[name];
  if (!app) return undefined;
  const url = new URL(`./manifests/${app.file}`, import.meta.url);
  return { text: readFileSync(url, "utf8"), source: url.pathname, namespace: app.namespace };
}
export { bundledManifestForUrl } from "./known-urls.ts";
export { pinToNodes } from "./placement.ts";
