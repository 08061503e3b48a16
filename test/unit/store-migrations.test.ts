import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { openDb, runMigrations } from '../../src/store/db.js';
import { StoreError } from '../../src/errors.js';

describe('store migrations', () => {
  it('creates a private data dir, a WAL database and records every migration once', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'cr-store-')), 'data');
    const db = openDb(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    const versions = db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
    expect(versions[0]).toBe(1);
    expect(runMigrations(db)).toBe(0);
    db.close();
    const again = openDb(dir);
    expect(again.prepare('SELECT count(*) FROM schema_migrations').pluck().get()).toBe(versions.length);
    again.close();
  });

  it('applies only the migrations not yet applied, in order', () => {
    const db = new Database(':memory:');
    runMigrations(db, [{ version: 1, name: 'a', sql: 'CREATE TABLE a (x INTEGER)' }]);
    const ran = runMigrations(db, [
      { version: 2, name: 'b', sql: 'CREATE TABLE b (y INTEGER REFERENCES a(x))' },
      { version: 1, name: 'a', sql: 'CREATE TABLE a (x INTEGER)' },
    ]);
    expect(ran).toBe(1);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE type='table' AND name='b'").pluck().get()).toBe('b');
  });

  it('refuses a database migrated by a newer relay instead of corrupting it', () => {
    const db = new Database(':memory:');
    runMigrations(db, [{ version: 7, name: 'future', sql: '' }]);
    expect(() => runMigrations(db, [{ version: 1, name: 'a', sql: '' }])).toThrow(StoreError);
    try {
      runMigrations(db, [{ version: 1, name: 'a', sql: '' }]);
    } catch (err) {
      expect((err as StoreError).code).toBe('DB_TOO_NEW');
    }
  });

  it('rolls back a failing migration whole', () => {
    const db = new Database(':memory:');
    expect(() => runMigrations(db, [{ version: 1, name: 'bad', sql: 'CREATE TABLE ok (x INTEGER); CREATE TABLE broken (' }])).toThrow();
    expect(db.prepare("SELECT count(*) FROM sqlite_master WHERE name='ok'").pluck().get()).toBe(0);
    expect(db.prepare('SELECT count(*) FROM schema_migrations').pluck().get()).toBe(0);
  });
});
