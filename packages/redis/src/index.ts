export { createRedisStore, StoreTimeoutError, StoreUnavailableError } from './redis-store.js';
export type { RedisStoreClient, RedisStoreOptions } from './redis-store.js';
