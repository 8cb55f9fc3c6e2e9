export type { StoreBackend, StoredValue, WatchEvent, WriteHints } from "./backend.ts";
export { backupStore, checkBackup, checkStore, restoreStore } from "./backup.ts";
export {
  chooseDatastore,
  type Datastore,
  formatDatastore,
  openBackend,
  parseDatastore,
  readDatastore,
} from "./datastore.ts";
export { EtcdBackend, type EtcdBackendOptions } from "./etcd-backend.ts";
export { FileBackend, type FileBackendOptions, type StoreSummary } from "./file-backend.ts";
export { KeySpace, MemoryBackend } from "./memory-backend.ts";
export { openFileStore, openStateStore, resolveStateDir } from "./open.ts";
export { ProcessLock } from "./process-lock.ts";
export {
  type AdmissionPlugin,
  BUILT_IN_NAMESPACES,
  ResourceClient,
  ResourceError,
  type Subject,
  type WriteOptions,
} from "./resource-client.ts";
