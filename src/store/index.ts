export type { StoreBackend, StoredValue, WatchEvent, WriteHints } from "./backend.ts";
export { backupStore, checkBackup, checkStore, restoreStore } from "./backup.ts";
export { FileBackend, type FileBackendOptions, type StoreSummary } from "./file-backend.ts";
export { KeySpace, MemoryBackend } from "./memory-backend.ts";
export { openFileStore, resolveStateDir } from "./open.ts";
export { ProcessLock } from "./process-lock.ts";
export {
  type AdmissionPlugin,
  BUILT_IN_NAMESPACES,
  ResourceClient,
  ResourceError,
  type Subject,
  type WriteOptions,
} from "./resource-client.ts";
