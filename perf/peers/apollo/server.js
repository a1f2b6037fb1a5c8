// perf/peers/apollo/server.js — the load tests' peer: what a team would pick
// instead of oponn. The same schema file (schema/schema.graphql), the same
// Redis and MongoDB (endpoint and data), the same cache-aside logic, on
// Apollo Server 4 (startStandaloneServer), the mongodb driver and ioredis:
//
//   read   Redis MGET of the entity keys → misses from MongoDB in one `$in`
//          find → SET each (EX 24 h, a pipeline) — DataLoader batches every
//          entity read of a request, so Book.bookstore over a list is one
//          MGET (+ one find on misses), like oponn's batch resolvers
//   write  updateBook: MongoDB findOneAndUpdate ($set, version + 1) → SET the
//          entity (write-through)
//
// Only what the load scenarios (1), (3) and (5) use is implemented: book,
// books, bookstoresForBooks, updateBook and the Book/Bookstore fields; other
// fields answer an error. Cache keys live under "apollo:" so they never meet
// oponn's. No version guard against stale sets (plain cache-aside, as most
// code does it).
//
// Environment: PEER_PORT, PEER_PROCS (node cluster workers, default 1),
// MONGODB_URI, OPONN_MONGODB_DB (default oponn), OPONN_REDIS_URL,
// OPONN_WRITE_TOKEN, OPONN_SCHEMA, PEER_COUNTERS_DIR (each worker writes
// apollo-<pid>.json there: {mongo, redis, requests}: MongoDB commands, Redis
// round trips and GraphQL requests so far).
'use strict';

const cluster = require('node:cluster');
const fs = require('node:fs');
const path = require('node:path');

const procs = Math.max(1, parseInt(process.env.PEER_PROCS || '1', 10));

if (cluster.isPrimary && procs > 1) {
  for (let i = 0; i < procs; i++) cluster.fork();
  let stopping = false;
  cluster.on('exit', (w, code, sig) => {
    if (!stopping) console.error(`apollo peer: worker ${w.process.pid} died (${code || sig})`);
  });
  const stop = () => {
    stopping = true;
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 200);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  main().catch((e) => {
    console.error('apollo peer:', e);
    process.exit(1);
  });
}

async function main() {
  const { ApolloServer } = require('@apollo/server');
  const { startStandaloneServer } = require('@apollo/server/standalone');
  const { GraphQLError } = require('graphql');
  const { MongoClient } = require('mongodb');
  const Redis = require('ioredis');
  const DataLoader = require('dataloader');

  const root = path.resolve(__dirname, '..', '..', '..');
  const typeDefs = fs.readFileSync(process.env.OPONN_SCHEMA || path.join(root, 'schema', 'schema.graphql'), 'utf8');
  const token = process.env.OPONN_WRITE_TOKEN || '';
  const ttl = 86400;
  const counters = { mongo: 0, redis: 0, requests: 0 };

  const mongo = new MongoClient(process.env.MONGODB_URI, { monitorCommands: true });
  mongo.on('commandStarted', () => { counters.mongo++; });
  await mongo.connect();
  const db = mongo.db(process.env.OPONN_MONGODB_DB || 'oponn');
  const redis = new Redis(process.env.OPONN_REDIS_URL || 'redis://127.0.0.1:6379');

  const key = (kind, id) => `apollo:${kind}:${id}`;

  // Cache-aside for a batch of ids: one MGET, one find for the misses, one
  // pipeline of SETs. Returns documents (or null) in input order.
  async function cached(kind, coll, ids) {
    const keys = ids.map((id) => key(kind, id));
    const hits = await redis.mget(keys);
    counters.redis++;
    const out = new Array(ids.length).fill(null);
    const miss = [];
    hits.forEach((v, i) => { if (v !== null) out[i] = JSON.parse(v); else miss.push(i); });
    if (miss.length) {
      const want = [...new Set(miss.map((i) => ids[i]))];
      const docs = await db.collection(coll).find({ _id: { $in: want } }, { batchSize: want.length }).toArray();
      const byId = new Map(docs.map((d) => [d._id, d]));
      const pipe = redis.pipeline();
      for (const i of miss) {
        const d = byId.get(ids[i]) || null;
        out[i] = d;
        if (d) pipe.set(keys[i], JSON.stringify(d), 'EX', ttl);
      }
      if (pipe.length) {
        await pipe.exec();
        counters.redis++;
      }
    }
    return out;
  }

  const notImplemented = () => { throw new GraphQLError('not implemented by the load-test peer'); };
  const resolvers = {
    Query: {
      book: (_, { id }, ctx) => ctx.books.load(id),
      books: (_, { ids }, ctx) => ctx.books.loadMany(ids),
      bookstoresForBooks: async (_, { bookIds }, ctx) => {
        const books = await ctx.books.loadMany(bookIds);
        const storeIds = books.map((b) => (b ? b.bookstore_id : null));
        const stores = await ctx.stores.loadMany(storeIds.filter((s) => s));
        let k = 0;
        return bookIds.map((id, i) => ({
          bookId: id,
          book: books[i],
          bookstore: storeIds[i] ? stores[k++] : null,
        }));
      },
      bookstore: (_, { id }, ctx) => ctx.stores.load(id),
      bookstoreByName: notImplemented,
      bookstores: notImplemented,
      apple: notImplemented,
      orange: notImplemented,
      fruitBySize: notImplemented,
      fruitByColour: notImplemented,
      fruitByAcidity: notImplemented,
    },
    Mutation: {
      updateBook: async (_, { id, input }, ctx) => {
        if (!ctx.auth) throw new GraphQLError('a write token is required', { extensions: { code: 'UNAUTHENTICATED' } });
        const set = { updated_at: new Date() };
        for (const [k, v] of Object.entries(input)) set[k] = v;
        const doc = await db.collection('books').findOneAndUpdate(
          { _id: id }, { $set: set, $inc: { version: 1 } }, { returnDocument: 'after' });
        if (!doc) throw new GraphQLError(`no book ${id}`, { extensions: { code: 'NOT_FOUND' } });
        await redis.set(key('books', id), JSON.stringify(doc), 'EX', ttl);
        counters.redis++;
        return doc;
      },
    },
    Book: {
      id: (b) => b._id,
      authors: (b) => b.authors || [],
      bookstore: (b, _, ctx) => (b.bookstore_id ? ctx.stores.load(b.bookstore_id) : null),
    },
    Bookstore: {
      id: (s) => s._id,
      books: notImplemented,
      bookCount: notImplemented,
    },
    Fruit: { __resolveType: (f) => (f.kind === 'ORANGE' ? 'Orange' : 'Apple') },
  };

  const server = new ApolloServer({ typeDefs, resolvers });
  const port = parseInt(process.env.PEER_PORT || '4000', 10);
  await startStandaloneServer(server, {
    listen: { port, host: '127.0.0.1' },
    context: async ({ req }) => {
      counters.requests++;
      return {
        auth: token !== '' && req.headers.authorization === `Bearer ${token}`,
        books: new DataLoader((ids) => cached('books', 'books', ids)),
        stores: new DataLoader((ids) => cached('bookstores', 'bookstores', ids)),
      };
    },
  });

  const dir = process.env.PEER_COUNTERS_DIR;
  const file = dir ? path.join(dir, `apollo-${process.pid}.json`) : null;
  let last = '';
  const flush = () => {
    const s = JSON.stringify(counters);
    if (file && s !== last) {
      fs.writeFileSync(file + '.tmp', s);
      fs.renameSync(file + '.tmp', file);
      last = s;
    }
  };
  if (file) setInterval(flush, 200).unref();
  const stop = async () => {
    flush();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  console.error(`apollo peer: pid ${process.pid} on 127.0.0.1:${port}`);
}
