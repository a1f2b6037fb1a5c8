// perf/peers/common.js — what the load tests' peers (apollo/, mercurius/)
// share, so that they differ only in the GraphQL server: the same schema
// file, the same Redis and MongoDB, the same cache-aside logic and resolvers,
// the same process model and counters.
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
// fields answer an error. Cache keys live under "<peer>:" so the peers never
// meet each other's or oponn's. No version guard against stale sets (plain
// cache-aside, as most code does it).
//
// Environment: PEER_PORT, PEER_PROCS (node cluster workers, default 1),
// MONGODB_URI, OPONN_MONGODB_DB (default oponn), OPONN_REDIS_URL,
// OPONN_WRITE_TOKEN, OPONN_SCHEMA, PEER_COUNTERS_DIR (each worker writes
// <peer>-<pid>.json there: {mongo, redis, requests}: MongoDB commands, Redis
// round trips and GraphQL requests so far).
'use strict';

const cluster = require('node:cluster');
const fs = require('node:fs');
const path = require('node:path');

// Runs main() in PEER_PROCS cluster workers (one process when 1). The
// cluster's primary accepts connections and hands them out round-robin,
// which is what a team gets from `node:cluster` without further tuning.
function run(name, main) {
  const procs = Math.max(1, parseInt(process.env.PEER_PROCS || '1', 10));
  if (cluster.isPrimary && procs > 1) {
    for (let i = 0; i < procs; i++) cluster.fork();
    let stopping = false;
    cluster.on('exit', (w, code, sig) => {
      if (!stopping) console.error(`${name} peer: worker ${w.process.pid} died (${code || sig})`);
    });
    const stop = () => {
      stopping = true;
      for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
      setTimeout(() => process.exit(0), 200);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    return;
  }
  main().catch((e) => {
    console.error(`${name} peer:`, e);
    process.exit(1);
  });
}

function schemaText() {
  const root = path.resolve(__dirname, '..', '..');
  return fs.readFileSync(process.env.OPONN_SCHEMA || path.join(root, 'schema', 'schema.graphql'),
                         'utf8');
}

// Connects to MongoDB and Redis and returns the resolvers, a per-request
// context factory (fresh DataLoaders: batching and per-request memoisation
// only) and the counters.
async function backend(name) {
  const { GraphQLError } = require('graphql');
  const { MongoClient } = require('mongodb');
  const Redis = require('ioredis');
  const DataLoader = require('dataloader');

  const token = process.env.OPONN_WRITE_TOKEN || '';
  const ttl = 86400;
  const counters = { mongo: 0, redis: 0, requests: 0 };

  const mongo = new MongoClient(process.env.MONGODB_URI, { monitorCommands: true });
  mongo.on('commandStarted', () => { counters.mongo++; });
  await mongo.connect();
  const db = mongo.db(process.env.OPONN_MONGODB_DB || 'oponn');
  const redis = new Redis(process.env.OPONN_REDIS_URL || 'redis://127.0.0.1:6379');

  const key = (kind, id) => `${name}:${kind}:${id}`;

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

  const context = (authorization) => {
    counters.requests++;
    return {
      auth: token !== '' && authorization === `Bearer ${token}`,
      books: new DataLoader((ids) => cached('books', 'books', ids)),
      stores: new DataLoader((ids) => cached('bookstores', 'bookstores', ids)),
    };
  };
  return { resolvers, context, counters };
}

// Writes the counters to PEER_COUNTERS_DIR/<name>-<pid>.json every 200 ms
// (when they changed) and on SIGTERM/SIGINT, then exits.
function publish(name, counters, port) {
  const dir = process.env.PEER_COUNTERS_DIR;
  const file = dir ? path.join(dir, `${name}-${process.pid}.json`) : null;
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
  const stop = () => {
    flush();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  console.error(`${name} peer: pid ${process.pid} on 127.0.0.1:${port}, node ${process.version}`);
}

module.exports = { run, schemaText, backend, publish };
