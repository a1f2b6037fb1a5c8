// t/lib/graphiql-browser.mjs — drives oponn's GraphiQL page in Debian's
// headless Chromium (playwright-core) for t/90-graphiql.t.
//
//   node t/lib/graphiql-browser.mjs BASE_URL USER_DATA_DIR SCREENSHOT EXPECT TOKEN
//
// Prints one JSON object a line ({ok, name, diag}); t/lib/taplib.py run_node
// turns them into TAP. EXPECT is a bookstore name the pre-filled query must
// show; TOKEN the write token, entered in the header editor for a mutation.
import { chromium } from 'playwright-core';

const [base, userDataDir, screenshot, expect, token] = process.argv.slice(2);
const report = (ok, name, diag) =>
  console.log(JSON.stringify({ ok: !!ok, name, diag: diag ? String(diag) : undefined }));

// Waits until the response pane shows text (what a person sees on screen);
// 60 s, not 15: a headless Chromium on 2 busy cores once took longer (t/90
// #25 failed at load average 15, then passed alone).
async function waitForResult(page, text) {
  try {
    await page.waitForFunction(
      (t) => (document.querySelector('.graphiql-response')?.innerText || '').includes(t),
      text, { timeout: 60000 });
    return true;
  } catch (e) {
    return false;
  }
}
const resultText = (page) =>
  page.evaluate(() => document.querySelector('.graphiql-response')?.innerText || '');
// CodeMirror 5 keeps its instance on the .CodeMirror element.
const setEditor = (page, sel, value) =>
  page.evaluate(([s, v]) => document.querySelector(s).CodeMirror.setValue(v), [sel, value]);

const ctx = await chromium.launchPersistentContext(userDataDir, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 720 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const page = ctx.pages()[0] || (await ctx.newPage());
  const requests = [];
  const errors = [];
  page.on('request', (r) => requests.push(r));
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));

  const resp = await page.goto(base + '/graphql');
  report(resp.status() === 200 && resp.headers()['content-type'].startsWith('text/html'),
         'GET /graphql in a browser: 200 text/html', resp.status());
  await page.waitForSelector('.graphiql-container', { timeout: 60000 });
  const query = await page.evaluate(
    () => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue());
  report(query.includes('bookstores(first: 3)') && query.includes('books(first: 2)'),
         'the editor is pre-filled with the bookstores -> books query', query);

  await page.click('.graphiql-execute-button');
  const shown = await waitForResult(page, expect);
  report(shown, `the result pane shows the bookstore "${expect}"`, await resultText(page));
  await page.screenshot({ path: screenshot });

  const posts = requests.filter((r) => r.method() === 'POST');
  report(posts.length > 0 && posts.every((r) => !('authorization' in r.headers())),
         'no Authorization header sent before the user enters one');
  const foreign = requests.filter((r) => !r.url().startsWith(base + '/') && !r.url().startsWith('data:'));
  report(foreign.length === 0, 'every request stays on oponn (no CDN)',
         foreign.map((r) => r.url()).join('\n'));

  // A mutation with the token the user types into the header editor.
  await page.click('text=Headers');
  await setEditor(page, '.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror',
                  JSON.stringify({ Authorization: 'Bearer ' + token }));
  await setEditor(page, '.graphiql-query-editor .CodeMirror',
                  'mutation { createBookstore(input: {name: "Typed In GraphiQL"}) { id name version } }');
  const before = requests.length;
  await page.click('.graphiql-execute-button');
  const created = await waitForResult(page, 'Typed In GraphiQL');
  report(created, 'a mutation with the token entered in the header editor', await resultText(page));
  const sent = requests.slice(before).filter((r) => r.method() === 'POST');
  report(sent.length > 0 && sent[sent.length - 1].headers()['authorization'] === 'Bearer ' + token,
         'the typed token is sent as Authorization');
  const stored = await page.evaluate(() => JSON.stringify(Object.assign({}, localStorage)));
  report(!stored.includes(token), 'the token is not kept in localStorage', stored);
  report(errors.length === 0, 'no JavaScript errors on the page', errors.join('\n'));
} catch (e) {
  report(false, 'browser session', e.stack);
} finally {
  await ctx.close();
}
