// Runs `switchyard autoport` directly (`node src/autoport/main.ts [options] -- command …`), without
// the main CLI; the tests start it this way. On success the process has become the command.

import { runAutoport } from './run-autoport.ts';

const exitCode = await runAutoport(process.argv.slice(2), process.env);
// exit() rather than exitCode: an API client's keep-alive socket must not hold a failed start open.
process.exit(exitCode);
