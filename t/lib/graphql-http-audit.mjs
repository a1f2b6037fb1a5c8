// t/lib/graphql-http-audit.mjs — the GraphQL-over-HTTP conformance suite,
// npm graphql-http's serverAudits (pinned in package.json), against a URL.
// For t/42-graphql-http-audit.t.
//
//   node t/lib/graphql-http-audit.mjs GRAPHQL_URL
//
// Prints one JSON object a line for t/lib/taplib.py run_node:
//   - {ok, name, diag} for each audit that must pass: every MUST and SHOULD,
//     and the MAYs API.md settles (REQUIRED_MAY below);
//   - a plain line for every other MAY (reported, never failing);
//   - {counts: {MUST: [passed, total], SHOULD: [...], MAY: [...]}} last.
// Audits run one after another: the stack is small and the order of the
// printed results should not depend on scheduling.
import { serverAudits } from 'graphql-http';

// "MAY use 400 status code on string / number / boolean / array {extensions}
// parameter": API.md answers 400 to an extensions that is not an object.
const REQUIRED_MAY = new Set(['58B0', '58B1', '58B2', '58B3']);

const [url] = process.argv.slice(2);
if (!url) {
  console.error('usage: node graphql-http-audit.mjs GRAPHQL_URL');
  process.exit(2);
}

const counts = { MUST: [0, 0], SHOULD: [0, 0], MAY: [0, 0] };
for (const audit of serverAudits({ url })) {
  const level = audit.name.split(' ')[0];
  let result;
  try {
    result = await audit.fn();
  } catch (e) {
    // The suite throws only on fatal errors (e.g. the server unreachable).
    result = { id: audit.id, name: audit.name, status: 'error', reason: 'audit threw: ' + String(e && e.stack || e) };
  }
  const passed = result.status === 'ok';
  counts[level][1]++;
  if (passed) counts[level][0]++;
  const name = `${audit.id} ${audit.name}`;
  let diag;
  if (!passed) {
    let body = '';
    try { body = result.response ? await result.response.text() : ''; } catch { /* already read */ }
    diag = `${result.reason}` + (result.response ? ` (HTTP ${result.response.status}${body ? ': ' + body.slice(0, 300) : ''})` : '');
  }
  if (level !== 'MAY' || REQUIRED_MAY.has(audit.id)) {
    console.log(JSON.stringify({ ok: passed, name, diag }));
  } else {
    console.log(`${passed ? 'passed' : 'FAILED (reported, not required)'}: ${name}${diag ? ' -- ' + diag : ''}`);
  }
}
console.log(JSON.stringify({ counts }));
