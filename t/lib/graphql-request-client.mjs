// t/lib/graphql-request-client.mjs — the API.md operations as a JavaScript
// user runs them: npm graphql-request, with graphql-js's introspection
// (getIntrospectionQuery + buildClientSchema) to validate every operation
// before sending it. For t/91-graphql-request.t.
//
//   node t/lib/graphql-request-client.mjs GRAPHQL_URL TOKEN
//
// Prints one JSON object a line ({ok, name, diag}) for t/lib/taplib.py run_node.
import { GraphQLClient, ClientError } from 'graphql-request';
import { getIntrospectionQuery, buildClientSchema, parse, validate } from 'graphql';

const [url, token] = process.argv.slice(2);
const report = (ok, name, diag) =>
  console.log(JSON.stringify({ ok: !!ok, name, diag: diag === undefined ? undefined : JSON.stringify(diag) }));
const anon = new GraphQLClient(url);
const writer = new GraphQLClient(url, { headers: { authorization: 'Bearer ' + token } });
const code = (e) => e instanceof ClientError ? e.response.errors?.[0]?.extensions?.code : String(e);
let schema = null;

async function step(name, fn) {
  try { await fn(); } catch (e) { report(false, name, e instanceof ClientError ? e.response : String(e.stack)); }
}
function checked(op) {
  if (schema) {
    const errs = validate(schema, parse(op));
    if (errs.length) throw new Error('invalid against the introspected schema: ' + errs.map(String).join('; '));
  }
  return op;
}

await step('introspection -> buildClientSchema', async () => {
  schema = buildClientSchema(await anon.request(getIntrospectionQuery()));
  const q = schema.getQueryType().getFields(), m = schema.getMutationType().getFields();
  const want = ['book', 'books', 'bookstore', 'bookstoreByName', 'bookstores', 'bookstoresForBooks', 'fruitBySize'];
  report(want.every((f) => f in q) && ['createBookstore', 'createBook', 'moveBook'].every((f) => f in m),
         'introspection -> buildClientSchema has the API.md fields', Object.keys(q));
});

const CREATE_STORE = checked('mutation ($input: BookstoreInput!) { createBookstore(input: $input) { id name city version } }');
const CREATE_BOOK = checked('mutation ($input: BookInput!) { createBook(input: $input) { id title version bookstore { id name } } }');

await step('mutation without the token', async () => {
  try {
    await anon.request(CREATE_STORE, { input: { name: 'No Token Books' } });
    report(false, 'mutation without the token -> UNAUTHENTICATED', 'it succeeded');
  } catch (e) {
    report(code(e) === 'UNAUTHENTICATED', 'mutation without the token -> UNAUTHENTICATED', code(e));
  }
});

let store, book1, book2;
await step('createBookstore with the token', async () => {
  store = (await writer.request(CREATE_STORE, { input: { name: 'Client Corner', city: 'Oslo' } })).createBookstore;
  report(store.name === 'Client Corner' && store.version === 1, 'createBookstore with the token (version 1)', store);
});
await step('createBook', async () => {
  book1 = (await writer.request(CREATE_BOOK, { input: { title: 'First', authors: ['Ann'], year: 2001, price: 9.5, bookstoreId: store.id } })).createBook;
  book2 = (await writer.request(CREATE_BOOK, { input: { title: 'Second', authors: ['Bo'], bookstoreId: store.id } })).createBook;
  report(book1.bookstore.name === 'Client Corner', 'createBook joins its bookstore', book1);
});
await step('books(ids) with an unknown id', async () => {
  const r = await anon.request(checked('query ($ids: [ID!]!) { books(ids: $ids) { id title bookstore { name } } }'),
                               { ids: [book2.id, '000000000000000000000000', book1.id] });
  report(r.books.length === 3 && r.books[0].title === 'Second' && r.books[1] === null && r.books[2].title === 'First',
         'books(ids): input order, null for an unknown id', r);
});
await step('book(id) unknown', async () => {
  const r = await anon.request(checked('query ($id: ID!) { book(id: $id) { id } }'), { id: '000000000000000000000000' });
  report(r.book === null, 'book(id) of an unknown id -> null', r);
});
await step('bookstores pagination', async () => {
  const r = await anon.request(checked('query ($n: Int) { bookstores(first: $n) { edges { cursor node { name bookCount books(first: 1) { edges { node { title } } pageInfo { hasNextPage } } } } pageInfo { hasNextPage endCursor } } }'), { n: 5 });
  const mine = r.bookstores.edges.find((e) => e.node.name === 'Client Corner');
  report(mine && mine.node.bookCount === 2 && mine.node.books.pageInfo.hasNextPage === true,
         'bookstores -> books connection with variables', r);
});
await step('bookstoreByName', async () => {
  const r = await anon.request(checked('query ($n: String!) { bookstoreByName(name: $n) { id } }'), { n: 'CLIENT  corner' });
  report(r.bookstoreByName && r.bookstoreByName.id === store.id, 'bookstoreByName matches the normalized name', r);
});
await step('bookstoresForBooks', async () => {
  const r = await anon.request(checked('query ($ids: [ID!]!) { bookstoresForBooks(bookIds: $ids) { bookId bookstore { name } } }'), { ids: [book1.id, book2.id] });
  report(r.bookstoresForBooks.map((x) => x.bookId).join() === [book1.id, book2.id].join() &&
         r.bookstoresForBooks.every((x) => x.bookstore.name === 'Client Corner'), 'bookstoresForBooks in input order', r);
});
await step('duplicate name', async () => {
  try { await writer.request(CREATE_STORE, { input: { name: 'client-corner' } }); report(false, 'duplicate name -> BOOKSTORE_NAME_TAKEN', 'created'); }
  catch (e) { report(code(e) === 'BOOKSTORE_NAME_TAKEN', 'duplicate name -> BOOKSTORE_NAME_TAKEN', code(e)); }
});
await step('validation error', async () => {
  try { await anon.request('{ book(id: "1") { nope } }'); report(false, 'validation error -> 400', 'succeeded'); }
  catch (e) {
    report(e instanceof ClientError && e.response.status === 400 && code(e) === 'GRAPHQL_VALIDATION_FAILED',
           'unknown field -> HTTP 400 GRAPHQL_VALIDATION_FAILED', e.response);
  }
});
await step('parse error', async () => {
  try { await anon.request('{ book(id: '); report(false, 'parse error -> 400', 'succeeded'); }
  catch (e) { report(e.response?.status === 400 && code(e) === 'GRAPHQL_PARSE_FAILED', 'syntax error -> HTTP 400 GRAPHQL_PARSE_FAILED', e.response); }
});
await step('GET query', async () => {
  const get = new GraphQLClient(url, { method: 'GET' });
  const r = await get.request(checked('query ($id: ID!) { book(id: $id) { title } }'), { id: book1.id });
  report(r.book.title === 'First', 'a query over GET with variables', r);
});
