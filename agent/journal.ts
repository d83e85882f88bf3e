// The agent's durable memory (SQLite, WAL, synchronous=FULL: survives kill -9).
// - operations: every command is recorded before it runs, so a re-delivered
//   operation id is answered from here instead of running twice;
// - outbox: every update and event gets a sequence number and stays until the
//   controller acknowledges it, so nothing is lost across a reconnect.
import Database from 'better-sqlite3';
import { AgentMessage, type OperationUpdate } from '../proto/gen/steward/v1/agent.js';
import { OperationState, OperationResult, type OperationError } from '../proto/gen/steward/v1/common.js';
import { codeNumber, codeOfName, codeOfNumber } from '../managers/sdk/errors.js';

export interface JournaledOperation {
  id: string;
  kind: string;
  state: OperationState;
  progress: number;
  message: string;
  result?: OperationResult;
  error?: OperationError;
}

interface OperationRow {
  id: string;
  kind: string;
  state: number;
  progress: number;
  message: string;
  result: Buffer | null;
  error_code: string | null;
  error_message: string | null;
}

export class Journal {
  private readonly db: Database.Database;
  /** Prepared once: preparing costs more than running these point statements. */
  private readonly statements = new Map<string, Database.Statement>();

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS operations (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, state INTEGER NOT NULL,
        progress INTEGER NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '',
        result BLOB, error_code TEXT, error_message TEXT,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL);
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`);
  }

  private stmt(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /**
   * Runs `write` without waiting for the disk: for what may be lost in a power
   * failure without harm (a read's answer, which the controller asks again
   * for; the deletion of acknowledged messages, which it ignores if sent
   * again). A kill -9 loses none of it (the write is in the OS); the next
   * durable commit flushes it.
   */
  private relaxed<T>(write: () => T): T {
    this.db.pragma('synchronous = NORMAL');
    try {
      return write();
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  get(id: string): JournaledOperation | undefined {
    const row = this.stmt('SELECT * FROM operations WHERE id = ?').get(id) as OperationRow | undefined;
    return row && toOperation(row);
  }

  /** Records a new operation as RUNNING; false if the id is already known. */
  begin(id: string, kind: string): boolean {
    return this.db.transaction(() => {
      const now = new Date().toISOString();
      const info = this.stmt(
        `INSERT OR IGNORE INTO operations (id, kind, state, created_at, updated_at, message)
           VALUES (?, ?, ?, ?, ?, 'started')`,
      ).run(id, kind, OperationState.RUNNING, now, now);
      if (info.changes === 0) return false;
      this.appendUpdate({
        operationId: id,
        state: OperationState.RUNNING,
        progress: 0,
        message: 'started',
        result: undefined,
        error: undefined,
        bytesDone: 0,
        bytesTotal: 0,
      });
      return true;
    })();
  }

  /** Updates the operation and queues the matching OperationUpdate in one transaction. */
  update(update: OperationUpdate): number {
    return this.db.transaction(() => {
      this.stmt(
        `UPDATE operations SET state = ?, progress = ?, message = ?, result = ?, error_code = ?,
           error_message = ?, updated_at = ? WHERE id = ?`,
      ).run(
        update.state,
        update.progress,
        update.message,
        update.result ? Buffer.from(OperationResult.encode(withoutSecrets(update.result)).finish()) : null,
        update.error ? codeOfNumber(update.error.code) : null,
        update.error?.message ?? null,
        new Date().toISOString(),
        update.operationId,
      );
      return this.appendUpdate(update);
    })();
  }

  /** The update that reports a journaled operation as it stands (a repeated id is answered with it). */
  outcomeOf(op: JournaledOperation): OperationUpdate {
    return { operationId: op.id, state: op.state, progress: op.progress, message: op.message, result: op.result, error: op.error, bytesDone: 0, bytesTotal: 0 };
  }

  /** Operations a previous run left RUNNING: the process died under them. */
  interrupted(): JournaledOperation[] {
    const rows = this.stmt('SELECT * FROM operations WHERE state = ?').all(OperationState.RUNNING) as OperationRow[];
    return rows.map(toOperation);
  }

  knownOperationIds(limit = 200): string[] {
    return (this.stmt('SELECT id FROM operations ORDER BY created_at DESC LIMIT ?').all(limit) as { id: string }[]).map((r) => r.id);
  }

  append(message: Omit<AgentMessage, 'seq'>): number {
    const body = Buffer.from(AgentMessage.encode({ ...message, seq: 0 }).finish());
    return Number(this.stmt('INSERT INTO outbox (body) VALUES (?)').run(body).lastInsertRowid);
  }

  /** Unacknowledged messages after `seq`, oldest first, with their sequence numbers. */
  pendingAfter(seq: number): AgentMessage[] {
    const rows = this.stmt('SELECT seq, body FROM outbox WHERE seq > ? ORDER BY seq').all(seq) as {
      seq: number;
      body: Buffer;
    }[];
    return rows.map((r) => ({ ...AgentMessage.decode(r.body), seq: r.seq }));
  }

  acknowledge(seq: number): void {
    this.relaxed(() => this.stmt('DELETE FROM outbox WHERE seq <= ?').run(seq));
  }

  getMeta(key: string): string | undefined {
    return (this.stmt('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): void {
    this.stmt('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  close(): void {
    this.db.close();
  }

  appendUpdate(update: OperationUpdate): number {
    return this.append({ body: { $case: 'update', value: update } });
  }

  /** A read's answer: queued like any update, without a disk flush (see relaxed). */
  appendReadAnswer(update: OperationUpdate): number {
    return this.relaxed(() => this.appendUpdate(update));
  }
}

/** A generated root password travels once (outbox, until acknowledged) and is never kept. */
function withoutSecrets(result: OperationResult): OperationResult {
  const r = result.result;
  return r?.$case === 'root' ? { result: { $case: 'root', value: { ...r.value, password: '' } } } : result;
}

function toOperation(row: OperationRow): JournaledOperation {
  return {
    id: row.id,
    kind: row.kind,
    state: row.state as OperationState,
    progress: row.progress,
    message: row.message,
    result: row.result ? OperationResult.decode(row.result) : undefined,
    error: row.error_code ? { code: codeNumber(codeOfName(row.error_code)), message: row.error_message ?? '' } : undefined,
  };
}
