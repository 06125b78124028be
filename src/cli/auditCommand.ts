import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { Command } from 'commander';
import { isChainHash } from '../audit/hashChain.ts';
import type { ChainVerification } from '../audit/verifyHashChain.ts';
import { verifyHashChain } from '../audit/verifyHashChain.ts';
import { CliError, usageError } from './cliError.ts';

interface VerifyOptions {
  json?: boolean;
  prevHash?: string;
  expectHead?: string;
}

const hashOption = (name: string) => (value: string) => {
  if (!isChainHash(value)) throw usageError(`${name} must be 64 lowercase hex digits (a chain hash)`);
  return value;
};

function report(file: string, result: ChainVerification): string {
  const brk = result.first_break;
  if (!brk) return `verify: ${result.events} events, chain intact, head ${result.head}\n`;
  const detail = brk.expected !== undefined ? ` (expected ${brk.expected}, found ${brk.found})` : '';
  return `${file}:${brk.line}: ${brk.reason}${detail}\nverify: chain broken at line ${brk.line} (${result.events} events verified before it)\n`;
}

/** `operator audit verify <file>`: checks the hash chain of an `operator events export`. */
function verifyCommand(): Command {
  return new Command('verify')
    .description('check the hash chain of an `operator events export` file; names the first broken line')
    .argument('<file>', 'the exported NDJSON file, or - for stdin')
    .option('--json', 'print {ok, events, head, first_break} as JSON')
    .option(
      '--prev-hash <hash>',
      'the export continues a chain: the last hash of the export before it',
      hashOption('--prev-hash'),
    )
    .option(
      '--expect-head <hash>',
      'the chain head recorded at export time: also catches a cut or rewritten end',
      hashOption('--expect-head'),
    )
    .addHelpText(
      'after',
      '\nEach line must carry prev_hash and hash = sha256(prev_hash + the event JSON); the first prev_hash is\n64 zeros unless --prev-hash says otherwise. Exits 0 when the chain is intact, 1 at the first broken line.\n\nExample:\n  $ operator events export --from 0 --out audit.ndjson\n  $ operator audit verify audit.ndjson\n  verify: 1234 events, chain intact, head 5f1c...\n  $ operator audit verify audit.ndjson --json',
    )
    .action(async (file: string, opts: VerifyOptions) => {
      if (file !== '-') {
        try {
          await access(file);
        } catch (error) {
          throw new CliError(
            `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
          );
        }
      }
      const input = file === '-' ? process.stdin : createReadStream(file);
      const result = await verifyHashChain(input, { prevHash: opts.prevHash, expectHead: opts.expectHead });
      process.stdout.write(opts.json ? `${JSON.stringify({ file, ...result })}\n` : report(file, result));
      if (!result.ok) process.exitCode = 1;
    });
}

/** `operator audit ...`: tamper evidence for exported events. */
export function auditCommand(): Command {
  return new Command('audit')
    .description('audit tools: verify the hash chain of an events export')
    .addHelpText(
      'after',
      '\nGate decisions (who approved what, when) are served by GET /api/v1/audit/gates (JSON or CSV).\n\nExample:\n  $ operator audit verify audit.ndjson',
    )
    .addCommand(verifyCommand());
}
