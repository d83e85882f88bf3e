// Operation commands are kept in the store so they can be re-sent after a
// reconnect, and some carry secrets (user passwords, a cluster's admin
// password, backup keys). They are stored sealed (AES-256-GCM, bound to the
// operation id) and opened only to be sent or read in memory.
import { Command } from '../proto/gen/steward/v1/agent.js';
import type { SecretBox } from './secret-box.js';

export class CommandCodec {
  constructor(private readonly box: SecretBox) {}

  seal(command: Command): Buffer {
    const plain = Buffer.from(Command.encode(command).finish()).toString('base64');
    return Buffer.from(this.box.seal(plain, `operation:${command.operationId}`), 'utf8');
  }

  open(sealed: Buffer, operationId: string): Command {
    return Command.decode(Buffer.from(this.box.open(sealed.toString('utf8'), `operation:${operationId}`), 'base64'));
  }
}
