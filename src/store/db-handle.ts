import type Database from 'better-sqlite3';

/**
 * The open store. Its own module so that what db.ts sets up at open (the secrets registry)
 * can name the handle without importing db.ts back.
 */
export type Db = Database.Database;
