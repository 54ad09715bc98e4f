/** `owlcache/client`: the cluster client library (README, "Client library"). */
export {
  OwlClient,
  type OwlClientOptions,
  type SetOptions,
  type KeyCopy,
  type Doc,
  type JobStatus,
  type BackupOptions,
  type RestoreOptions,
} from './owl-client.js';
export { OwlError, OwlNotFound, OwlAuthError, OwlUnavailable, OwlRequestError, type FailedAttempt } from './errors.js';
export type { NodeView } from './topology.js';
