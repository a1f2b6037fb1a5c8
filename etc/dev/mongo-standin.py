#!/usr/bin/python3
"""mongo-standin — a MongoDB-compatible server for DEVELOPMENT AND TESTS ONLY.

NEVER use this in production. It keeps every document in the memory of one
Python process, answers one request at a time, has no authentication, no
replication, no transactions, no collation and no durability beyond a JSON
snapshot written on a clean stop. Query semantics are mongomock's: close to
mongod's for what oponn uses, not identical. Point MONGODB_URI at a real mongod
or Atlas for anything that matters.

What it owns: the MongoDB wire protocol (python3-mockupdb) mapped onto
mongomock (python3-mongomock) for the commands oponn and libmongoc send;
server-side cursors; the optional JSON snapshot (--data-file). Anything it
does not implement is refused with {ok: 0, code, errmsg} naming what is
missing, never silently ignored: an uncaught exception would hang the client,
so every request ends in a reply.

Indexes: a filter anchored on _id -- a top-level _id equal to a string,
integer or ObjectId ({_id: v}, {_id: {$eq: v}}) or {_id: {$in: [...]}} of
those, with or without other conditions ({_id: v, version: {$lt: n}}) -- reads
the documents by _id and tests only those. Every other filter scans the whole
collection: secondary indexes are never used for reads (unique ones are
checked by hash on writes), nor is _id under $and/$or or with other operators
($ne, $nin, $gt, $regex, ...). serverStatus reports the documents examined:
metrics.queryExecutor.scannedObjects (the total, as mongod) and
oponnStandin.lastCommand (the last command that read documents).

  /usr/bin/python3 etc/dev/mongo-standin.py --host 127.0.0.1 --port P \
      [--port-file F] [--data-file F] [--shutdown-ms N]

--port 0 picks a free port; --port-file receives the real port (written
atomically) once the server accepts connections. --data-file is loaded at
start and saved atomically on SIGTERM/SIGINT. --shutdown-ms N (default 0):
after SIGTERM/SIGINT, answer every request for N ms as a mongod that is
shutting down does (commands fail with InterruptedAtShutdown, hello with
ShutdownInProgress: the errors Atlas failovers and restarts show clients),
then save and exit. Runs with Debian's
/usr/bin/python3: the pyenv python on PATH cannot see Debian's modules.
"""

import argparse
import datetime
import json
import os
import random
import signal
import sys
import threading
import time
import traceback

import bson
from bson import json_util
from bson.int64 import Int64
from bson.objectid import ObjectId
import mockupdb
import mongomock
from mongomock.collection import Collection
from mongomock.filtering import filter_applies
from pymongo.errors import DuplicateKeyError, OperationFailure

MAX_BSON = 16 * 1024 * 1024
BATCH_BYTES = MAX_BSON - 64 * 1024  # room for the reply envelope
DEFAULT_FIRST_BATCH = 101
CURSOR_IDLE_SECONDS = 600  # as mongod's cursorTimeoutMillis
MAX_WIRE_VERSION = 13  # MongoDB 5.0; libmongoc 1.23 needs 6..17
SNAPSHOT_FORMAT = 'mongo-standin/1'

CODE_NAMES = {
    1: 'InternalError', 2: 'BadValue', 9: 'FailedToParse', 20: 'IllegalOperation',
    26: 'NamespaceNotFound', 27: 'IndexNotFound', 43: 'CursorNotFound',
    48: 'NamespaceExists', 59: 'CommandNotFound', 72: 'InvalidOptions',
    86: 'IndexKeySpecsConflict', 91: 'ShutdownInProgress', 238: 'NotImplemented',
    11000: 'DuplicateKey', 11600: 'InterruptedAtShutdown',
}
# Options that would change a result and that mongomock cannot honour: refused
# (code 238) rather than silently ignored. Session, routing and concern fields
# (lsid, $readPreference, writeConcern, ...) change nothing here and pass.
UNSUPPORTED_OPTIONS = ('tailable', 'awaitData', 'returnKey', 'showRecordId', 'min', 'max',
                       'let', 'explain', 'arrayFilters', 'hint')


class CmdError(Exception):
    """A command failure with a mongod error code; becomes {ok: 0, ...}."""

    def __init__(self, code, msg, **extra):
        super().__init__(msg)
        self.code, self.extra = code, extra


def refuse(what):
    raise CmdError(238, 'mongo-standin (development stand-in) does not support %s; '
                   'run against a real mongod (MONGODB_URI) if you need it' % what)


def log(msg):
    sys.stderr.write('mongo-standin[%d]: %s\n' % (os.getpid(), msg))
    sys.stderr.flush()


# --- mongomock patches: _id lookups by hash, unique checks like mongod ----------

_MISSING = object()


class _Examined:
    """Documents examined (tested against a filter) since the server started,
    as mongod's serverStatus metrics.queryExecutor.scannedObjects: a scan
    examines every document it tests, an _id lookup only the documents it
    finds. Standin.run settles it after each command. One handler runs at a
    time (mockupdb's lock), so plain counters are enough."""

    total = 0
    reads = 0  # _iter_documents calls: did a command read documents at all
    # (list length, its iterator) of each scan since the last settle(): a
    # consumer may stop early (update_one), so what a scan examined is known
    # only afterwards, from how far its iterator went. Counting in the loop
    # instead made every scan half again as slow.
    scans = []

    @classmethod
    def settle(cls):
        for n, it in cls.scans:
            cls.total += n - it.__length_hint__()
        cls.scans = []


def _is_key(v):
    # Types whose Python hash/equality agree with MongoDB's comparison.
    return isinstance(v, (str, int, ObjectId)) and not isinstance(v, bool)


def _anchored_ids(spec):
    """The _id values a filter is limited to, in _id order, or None when it
    is not anchored on _id: a top-level _id equal to a key ({_id: v},
    {_id: {$eq: v}}) or in a list of keys ({_id: {$in: [...]}}), whatever
    else the filter says. Anything else (other _id operators, _id under
    $and/$or, floats, documents) is None: a scan."""
    v = spec.get('_id', _MISSING) if isinstance(spec, dict) else _MISSING
    if isinstance(v, dict) and len(v) == 1 and '$eq' in v:
        v = v['$eq']
    if _is_key(v):
        return [v]
    if (isinstance(v, dict) and len(v) == 1 and isinstance(v.get('$in'), list)
            and all(_is_key(x) for x in v['$in'])):
        ids = list(dict.fromkeys(v['$in']))
        try:
            ids.sort()  # mongod walks the _id index in order
        except TypeError:
            pass
        return ids
    return None


def _iter_documents(self, spec):
    """Every read, update and delete finds its documents here. A filter
    anchored on _id (_anchored_ids) reads the store's dict and tests only the
    documents it finds against the rest of the filter; any other filter is
    mongomock's scan. Both count what they examine (_Examined)."""
    _Examined.reads += 1
    ids = _anchored_ids(spec)
    if ids is None:
        # As mongomock: validate the filter even if no documents can match,
        # and scan a copy of the list taken now (the caller may write).
        if self._store.is_empty:
            filter_applies(spec, {})
        docs = list(self._store.documents)
        it = iter(docs)
        _Examined.scans.append((len(docs), it))
        return (doc for doc in it if filter_applies(spec, doc))
    store = self._store
    rest = len(spec) > 1
    found = []
    for i in ids:
        try:
            doc = store[i]
        except KeyError:
            continue
        if isinstance(doc['_id'], bool):  # True == 1 in a dict, not in MongoDB
            continue
        _Examined.total += 1
        if not rest or filter_applies(spec, doc):
            found.append(doc)
    if rest and not found:
        filter_applies(spec, {})  # a bad operator elsewhere still fails, as in a scan
    return iter(found)


def _dot(doc, path):
    for part in path.split('.'):
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        else:
            return _MISSING
    return doc


def _fmt(v):
    """A value the way mongod prints it in a duplicate-key message."""
    if v is _MISSING or v is None:
        return 'null'
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, ObjectId):
        return "ObjectId('%s')" % v
    if isinstance(v, (int, float)):
        return repr(v)
    return json_util.dumps(v)


def dup_key_error(ns, index_name, key_pattern, values):
    shown = ', '.join('%s: %s' % (k, _fmt(v)) for (k, _), v in zip(key_pattern, values))
    msg = 'E11000 duplicate key error collection: %s index: %s dup key: { %s }' % (
        ns, index_name, shown)
    return DuplicateKeyError(msg, 11000, {
        'errmsg': msg, 'keyPattern': dict(key_pattern),
        'keyValue': {k: (None if v is _MISSING else v) for (k, _), v in zip(key_pattern, values)}})


def _skey(v):
    # How mongomock keys its store: documents as _id become hashdicts.
    return mongomock.helpers.hashdict(v) if isinstance(v, dict) else v


def _ukey(doc, keys):
    return tuple(None if v is _MISSING else v for v in (_dot(doc, k) for k, _ in keys))


# id(mongomock index dict) -> (that dict, {key tuple: set of _id}). A hint, not
# the truth: deletes and rolled-back updates leave stale _ids behind, so every
# hit is re-checked against the stored document. It is complete because every
# insert and every modifying update passes through _ensure_uniques, which adds
# the document's key once it is accepted.
_unique_hashes = {}


def _unique_hash(store, index):
    entry = _unique_hashes.get(id(index))
    if entry is None:
        h = {}
        for doc in store.documents:
            try:
                h.setdefault(_ukey(doc, index['key']), set()).add(_skey(doc['_id']))
            except TypeError:
                pass  # an unhashable key never equals a hashable one
        entry = _unique_hashes[id(index)] = (index, h)  # keeps id(index) unique
    return entry[1]


def _ensure_uniques(self, new_data):
    """mongomock's check through a hash of each unique index instead of a
    collection scan per write, naming the index and key as mongod does.
    Keys are compared as whole values (an array is one key, not one per
    element as in mongod's multikey indexes)."""
    store = self._store
    for name, index in store.indexes.items():
        if not index.get('unique'):
            continue
        keys = index['key']
        vals = tuple(_dot(new_data, k) for k, _ in keys)
        if index.get('sparse') and all(v is _MISSING for v in vals):
            continue
        pfe = index.get('partialFilterExpression')
        if pfe is not None and not filter_applies(pfe, new_data):
            continue
        want = _ukey(new_data, keys)
        try:
            ids = _unique_hash(store, index).setdefault(want, set())
        except TypeError:  # unhashable key (a document or array): scan
            ids = None
        for doc in (store.documents if ids is None else
                    [store._documents.get(i) for i in list(ids)]):
            if doc is None or doc is new_data:
                continue
            if _ukey(doc, keys) != want:
                if ids is not None:
                    ids.discard(_skey(doc['_id']))  # stale hint
            elif pfe is None or filter_applies(pfe, doc):
                raise dup_key_error(self.full_name, name, keys, vals)
        if ids is not None:
            ids.add(_skey(new_data['_id']))


Collection._iter_documents = _iter_documents
Collection._ensure_uniques = _ensure_uniques
# mockupdb formats repr(request) for its (disabled) verbose log on every
# request: half the cost of a find by _id. Nothing here prints requests.
mockupdb.Request.__repr__ = mockupdb.OpQuery.__repr__ = lambda self: type(self).__name__


# --- the server -----------------------------------------------------------------

class Standin:
    """Command dispatch over one mongomock client. mockupdb runs one handler at
    a time (it holds its server lock while a handler runs), so no locking here."""

    def __init__(self):
        self.client = mongomock.MongoClient()
        self.colls = {}  # (db, name) -> mongomock Collection, reused
        self.options = {}  # (db, name) -> create/collMod options (validator, ...)
        self.cursors = {}  # id -> {'ns', 'docs', 'pos', 'used'}
        self.started = self.swept = time.time()
        self.server = None
        self.shutting_down = False  # --shutdown-ms: every request refused as at shutdown
        self.last_examined = None  # see cmd_serverStatus

    # -- helpers
    def coll(self, db, name):
        if not isinstance(name, str) or not name:
            raise CmdError(2, 'collection name must be a non-empty string, got %r' % (name,))
        c = self.colls.get((db, name))
        if c is None:
            c = self.colls[(db, name)] = self.client[db][name]
        return c

    def exists(self, db, name):
        return bool(self.coll(db, name)._store.is_created)

    def batch(self, cur, n):
        """Takes up to n documents (0: no count limit) and at most BATCH_BYTES
        from a cursor state; returns the list."""
        docs, pos, out, size = cur['docs'], cur['pos'], [], 0
        while pos < len(docs) and (n <= 0 or len(out) < n):
            dsize = len(bson.BSON.encode(docs[pos]))
            if out and size + dsize > BATCH_BYTES:
                break
            out.append(docs[pos])
            size += dsize
            pos += 1
        cur['pos'] = pos
        return out

    def cursor_reply(self, ns, docs, batch_size, single_batch=False):
        now = time.time()
        if now - self.swept > 60:  # forget cursors a client abandoned
            self.swept = now
            for cid in [c for c, s in self.cursors.items() if now - s['used'] > CURSOR_IDLE_SECONDS]:
                del self.cursors[cid]
        cur = {'ns': ns, 'docs': docs, 'pos': 0, 'used': now}
        n = DEFAULT_FIRST_BATCH if batch_size is None else int(batch_size)
        first = self.batch(cur, n)
        cid = 0
        if cur['pos'] < len(docs) and not single_batch:
            cid = random.randint(1, 2 ** 62)
            self.cursors[cid] = cur
        return {'cursor': {'firstBatch': first, 'id': Int64(cid), 'ns': ns}}

    def run_update(self, coll, q, u, upsert, multi):
        """One update statement; returns mongomock's raw result dict."""
        if isinstance(u, list):
            refuse('pipeline-style updates (an array as the update)')
        if not isinstance(u, dict):
            raise CmdError(14, 'update must be an object, got %r' % (u,))
        if u and all(k.startswith('$') for k in u):
            fn = coll.update_many if multi else coll.update_one
            return fn(q, u, upsert=upsert).raw_result
        if multi:
            raise CmdError(9, 'multi update is not supported for replacement-style update')
        return coll.replace_one(q, u, upsert=upsert).raw_result

    # -- handshake and server information
    def cmd_hello(self, db, doc, req):
        r = {'ismaster': True}
        if next(iter(doc)) == 'hello':
            r = {'isWritablePrimary': True}
        if doc.get('helloOk'):
            r['helloOk'] = True
        r.update(maxBsonObjectSize=MAX_BSON, maxMessageSizeBytes=48000000,
                 maxWriteBatchSize=100000, localTime=datetime.datetime.utcnow(),
                 logicalSessionTimeoutMinutes=30, connectionId=req.client_port,
                 minWireVersion=0, maxWireVersion=MAX_WIRE_VERSION, readOnly=False)
        return r

    def cmd_ping(self, db, doc, req):
        return {}

    cmd_endSessions = cmd_ping

    def cmd_buildInfo(self, db, doc, req):
        return {'version': '5.0.0', 'gitVersion': 'mongo-standin', 'versionArray': [5, 0, 0, 0],
                'bits': 64, 'debug': False, 'maxBsonObjectSize': MAX_BSON, 'modules': [],
                'storageEngines': ['mongomock'], 'oponnStandin': True}

    def cmd_serverStatus(self, db, doc, req):
        up = time.time() - self.started
        return {'host': 'mongo-standin', 'version': '5.0.0', 'process': 'mongo-standin',
                'pid': Int64(os.getpid()), 'uptime': float(int(up)),
                'uptimeMillis': Int64(int(up * 1000)), 'localTime': datetime.datetime.utcnow(),
                'connections': {'current': len(self.server._server_socks) if self.server else 0},
                'metrics': {'cursor': {'open': {'total': len(self.cursors)}},
                            'queryExecutor': {'scannedObjects': Int64(_Examined.total)}},
                # The last command that read documents (find, count, update,
                # delete, findAndModify, aggregate, ...) and how many it
                # examined; handshakes and serverStatus itself do not count.
                'oponnStandin': {'lastCommand': self.last_examined}}

    def cmd_listDatabases(self, db, doc, req):
        names = self.client.list_database_names()
        return {'databases': [{'name': n, 'sizeOnDisk': 0.0, 'empty': False} for n in names],
                'totalSize': 0.0}

    # -- collections
    def cmd_listCollections(self, db, doc, req):
        out = []
        for name in sorted(self.client[db].list_collection_names()):
            e = {'name': name, 'type': 'collection', 'options': self.options.get((db, name), {}),
                 'info': {'readOnly': False},
                 'idIndex': {'v': 2, 'key': {'_id': 1}, 'name': '_id_'}}
            if doc.get('filter') and not filter_applies(doc['filter'], e):
                continue
            out.append({'name': name, 'type': 'collection'} if doc.get('nameOnly') else e)
        return self.cursor_reply(db + '.$cmd.listCollections', out,
                                 (doc.get('cursor') or {}).get('batchSize'))

    def _check_options(self, doc, allowed):
        extra = [k for k in doc if k not in allowed and not k.startswith('$')
                 and k not in ('lsid', 'writeConcern', 'comment', 'readConcern', 'maxTimeMS')]
        if extra:
            refuse('the option(s) %s of %s' % (', '.join(extra), next(iter(doc))))

    def cmd_create(self, db, doc, req):
        name = doc['create']
        self._check_options(doc, ('create', 'validator', 'validationLevel', 'validationAction'))
        if self.exists(db, name):
            raise CmdError(48, 'Collection %s.%s already exists.' % (db, name))
        self.coll(db, name)._store.create()
        self.options[(db, name)] = {k: v for k, v in doc.items() if k.startswith('valid')}
        return {}

    def cmd_collMod(self, db, doc, req):
        name = doc['collMod']
        self._check_options(doc, ('collMod', 'validator', 'validationLevel', 'validationAction'))
        if not self.exists(db, name):
            raise CmdError(26, 'ns does not exist: %s.%s' % (db, name))
        # Validators are stored (listCollections shows them), not enforced.
        self.options.setdefault((db, name), {}).update(
            (k, v) for k, v in doc.items() if k.startswith('valid'))
        return {}

    def cmd_drop(self, db, doc, req):
        name = doc['drop']
        if not self.exists(db, name):
            raise CmdError(26, 'ns not found')
        n = len(self.coll(db, name).index_information())
        self.client[db].drop_collection(name)
        self.options.pop((db, name), None)
        return {'nIndexesWas': n, 'ns': '%s.%s' % (db, name)}

    def cmd_dropDatabase(self, db, doc, req):
        self.client.drop_database(db)
        for key in [k for k in self.options if k[0] == db]:
            del self.options[key]
        return {'dropped': db}

    # -- indexes
    def cmd_createIndexes(self, db, doc, req):
        name = doc['createIndexes']
        coll = self.coll(db, name)
        existed = self.exists(db, name)
        before = len(coll.index_information()) if existed else 1
        for spec in doc.get('indexes') or []:
            key = list((spec.get('key') or {}).items())
            if not key or not spec.get('name'):
                raise CmdError(9, 'index specification needs a key and a name: %r' % (spec,))
            bad = [k for k, d in key if not isinstance(d, (int, float)) or isinstance(d, bool)]
            if bad:
                refuse('index types other than 1/-1 (%s)' % ', '.join('%s: %r' % (k, dict(key)[k])
                                                               for k in bad))
            opts = {k: v for k, v in spec.items() if k not in ('key', 'name', 'v', 'background')}
            for k in opts:
                if k not in ('unique', 'sparse', 'partialFilterExpression', 'expireAfterSeconds'):
                    refuse('the index option %r' % k)
            if key == [('_id', 1)]:
                continue
            try:
                coll.create_index(key, name=spec['name'], **opts)
            except DuplicateKeyError:
                raise CmdError(11000, 'E11000 duplicate key error collection: %s index: %s '
                               '(existing documents are not unique)' % (coll.full_name,
                                                                       spec['name']))
            except OperationFailure as e:
                raise CmdError(86, str(e))
        coll._store.create()
        return {'createdCollectionAutomatically': not existed, 'numIndexesBefore': before,
                'numIndexesAfter': len(coll.index_information())}

    def cmd_listIndexes(self, db, doc, req):
        name = doc['listIndexes']
        if not self.exists(db, name):
            raise CmdError(26, 'ns does not exist: %s.%s' % (db, name))
        out = list(self.coll(db, name).list_indexes())
        return self.cursor_reply('%s.$cmd.listIndexes.%s' % (db, name), out,
                                 (doc.get('cursor') or {}).get('batchSize'))

    def cmd_dropIndexes(self, db, doc, req):
        name = doc['dropIndexes']
        if not self.exists(db, name):
            raise CmdError(26, 'ns not found %s.%s' % (db, name))
        coll = self.coll(db, name)
        info = coll.index_information()
        which = doc.get('index')
        if which == '*':
            coll.drop_indexes()
            return {'nIndexesWas': len(info)}
        if isinstance(which, dict):
            by_key = [n for n, i in info.items() if i['key'] == list(which.items())]
            if not by_key:
                raise CmdError(27, "can't find index with key: %r" % (dict(which),))
            which = by_key
        for n in which if isinstance(which, list) else [which]:
            if n == '_id_':
                raise CmdError(72, 'cannot drop _id index')
            if n not in info:
                raise CmdError(27, 'index not found with name [%s]' % (n,))
            coll.drop_index(n)
        return {'nIndexesWas': len(info)}

    # -- reads
    def cmd_find(self, db, doc, req):
        coll = self.coll(db, doc['find'])
        sort = doc.get('sort')
        limit, single = int(doc.get('limit') or 0), bool(doc.get('singleBatch'))
        if limit < 0:
            limit, single = -limit, True
        docs = list(coll.find(doc.get('filter') or {}, doc.get('projection') or None,
                              skip=int(doc.get('skip') or 0), limit=limit,
                              sort=list(sort.items()) if sort else None))
        return self.cursor_reply(coll.full_name, docs, doc.get('batchSize'), single)

    def cmd_getMore(self, db, doc, req):
        cid = int(doc['getMore'])
        cur = self.cursors.get(cid)
        if cur is None:
            raise CmdError(43, 'cursor id %d not found' % cid)
        cur['used'] = time.time()
        out = self.batch(cur, int(doc.get('batchSize') or 0))
        if cur['pos'] >= len(cur['docs']):
            del self.cursors[cid]
            cid = 0
        return {'cursor': {'nextBatch': out, 'id': Int64(cid), 'ns': cur['ns']}}

    def cmd_killCursors(self, db, doc, req):
        killed, missing = [], []
        for cid in doc.get('cursors') or []:
            (killed if self.cursors.pop(int(cid), None) else missing).append(Int64(cid))
        return {'cursorsKilled': killed, 'cursorsNotFound': missing, 'cursorsAlive': [],
                'cursorsUnknown': []}

    def cmd_count(self, db, doc, req):
        kw = {k: int(doc[k]) for k in ('skip', 'limit') if doc.get(k)}
        return {'n': self.coll(db, doc['count']).count_documents(doc.get('query') or {}, **kw)}

    def cmd_distinct(self, db, doc, req):
        return {'values': self.coll(db, doc['distinct']).distinct(doc['key'],
                                                                  doc.get('query') or {})}

    def cmd_aggregate(self, db, doc, req):
        if not isinstance(doc['aggregate'], str):
            refuse('database-level aggregate (aggregate: 1)')
        coll = self.coll(db, doc['aggregate'])
        pipeline = doc.get('pipeline')
        if not isinstance(pipeline, list):
            raise CmdError(14, "'pipeline' option must be specified as an array")
        docs = list(coll.aggregate(pipeline))
        return self.cursor_reply(coll.full_name, docs,
                                 (doc.get('cursor') or {}).get('batchSize'))

    # -- writes: per-statement failures are writeErrors with ok: 1, as mongod
    def write_error(self, coll, index, e, id_value=_MISSING):
        if isinstance(e, DuplicateKeyError) and not (e.details or {}).get('keyPattern'):
            # mongomock's own _id collision: name the _id index like mongod.
            e = dup_key_error(coll.full_name, '_id_', [('_id', 1)], [id_value])
        code, msg, extra = error_parts(e)
        return dict({'index': index, 'code': code, 'errmsg': msg}, **extra)

    def dup_cmd_error(self, coll, e, id_value):
        w = self.write_error(coll, 0, e, id_value)
        return CmdError(11000, w['errmsg'], **{k: w[k] for k in ('keyPattern', 'keyValue')
                                                if k in w})

    def cmd_insert(self, db, doc, req):
        coll = self.coll(db, doc['insert'])
        n, errors = 0, []
        for i, d in enumerate(doc.get('documents') or []):
            try:
                coll.insert_one(d)
                n += 1
            except Exception as e:
                errors.append(self.write_error(coll, i, e, d.get('_id', _MISSING)))
                if doc.get('ordered', True):
                    break
        return dict({'n': n}, **({'writeErrors': errors} if errors else {}))

    def cmd_update(self, db, doc, req):
        coll = self.coll(db, doc['update'])
        n = modified = 0
        upserted, errors = [], []
        for i, s in enumerate(doc.get('updates') or []):
            try:
                r = self.run_update(coll, s.get('q') or {}, s.get('u'), bool(s.get('upsert')),
                                    bool(s.get('multi')))
                n += r['n']
                modified += r['nModified']
                if r.get('upserted') is not None:
                    upserted.append({'index': i, '_id': r['upserted']})
            except Exception as e:
                errors.append(self.write_error(coll, i, e, (s.get('q') or {}).get('_id', _MISSING)))
                if doc.get('ordered', True):
                    break
        r = {'n': n, 'nModified': modified}
        if upserted:
            r['upserted'] = upserted
        if errors:
            r['writeErrors'] = errors
        return r

    def cmd_delete(self, db, doc, req):
        coll = self.coll(db, doc['delete'])
        n, errors = 0, []
        for i, s in enumerate(doc.get('deletes') or []):
            try:
                q = s.get('q') or {}
                res = coll.delete_one(q) if s.get('limit') == 1 else coll.delete_many(q)
                n += res.deleted_count
            except Exception as e:
                errors.append(self.write_error(coll, i, e))
                if doc.get('ordered', True):
                    break
        return dict({'n': n}, **({'writeErrors': errors} if errors else {}))

    def cmd_findAndModify(self, db, doc, req):
        coll = self.coll(db, doc['findAndModify'])
        q, fields = doc.get('query') or {}, doc.get('fields') or None
        sort, upd = doc.get('sort'), doc.get('update')
        remove, new, upsert = bool(doc.get('remove')), bool(doc.get('new')), bool(doc.get('upsert'))
        if remove == (upd is not None):
            raise CmdError(9, 'findAndModify needs exactly one of remove: true and update')
        if remove and (new or upsert):
            raise CmdError(9, 'findAndModify: remove cannot be combined with new or upsert')
        old = coll.find_one(q, sort=list(sort.items()) if sort else None)
        if old is None:
            if not upsert:
                return {'lastErrorObject': {'n': 0, 'updatedExisting': False}, 'value': None}
            try:
                r = self.run_update(coll, q, upd, True, False)
            except DuplicateKeyError as e:
                raise self.dup_cmd_error(coll, e, q.get('_id', _MISSING))
            uid = r['upserted']
            value = coll.find_one({'_id': uid}, fields) if new else None
            return {'lastErrorObject': {'n': 1, 'updatedExisting': False, 'upserted': uid},
                    'value': value}
        by_id = {'_id': old['_id']}
        before = coll.find_one(by_id, fields)
        if remove:
            coll.delete_one(by_id)
            return {'lastErrorObject': {'n': 1}, 'value': before}
        try:
            self.run_update(coll, by_id, upd, False, False)
        except DuplicateKeyError as e:
            raise self.dup_cmd_error(coll, e, old['_id'])
        value = coll.find_one(by_id, fields) if new else before
        return {'lastErrorObject': {'n': 1, 'updatedExisting': True}, 'value': value}

    # -- dispatch
    def run(self, db, doc, req):
        name = next(iter(doc), '')
        if 'txnNumber' in doc or 'startTransaction' in doc:
            raise CmdError(20, 'Transaction numbers are only allowed on a replica set member '
                           'or mongos')
        stmts = [doc] + [s for k in ('updates', 'deletes', 'indexes')
                         for s in (doc.get(k) or []) if isinstance(s, dict)]
        for s in stmts:
            c = s.get('collation')
            if c is not None and dict(c) != {'locale': 'simple'}:
                refuse('collation (mongomock would silently ignore it)')
            bad = [o for o in UNSUPPORTED_OPTIONS if o in s]
            if bad:
                refuse('the option(s) %s of %s' % (', '.join(bad), name))
        fn = getattr(self, 'cmd_' + {'isMaster': 'hello', 'ismaster': 'hello'}.get(name, name),
                     None)
        if fn is None:
            raise CmdError(59, 'no such command: \'%s\'' % name)
        _Examined.settle()  # scans made outside a command (loading a snapshot)
        total, reads = _Examined.total, _Examined.reads
        try:
            return fn(db, doc, req)
        finally:
            _Examined.settle()
            if _Examined.reads != reads:  # it read documents: the last such command
                coll = doc.get(name)
                self.last_examined = {'command': name,
                                      'ns': '%s.%s' % (db, coll) if isinstance(coll, str) else db,
                                      'docsExamined': Int64(_Examined.total - total)}

    def handle(self, req):
        """mockupdb autoresponder: every request gets exactly one reply (or
        none when the client asked for none), whatever goes wrong."""
        quiet = isinstance(req, mockupdb.OpMsg) and req.flags & mockupdb.OP_MSG_FLAGS['moreToCome']
        try:
            if not req.is_command:
                if isinstance(req, mockupdb.OpQuery):
                    return req.fail('mongo-standin: legacy OP_QUERY reads are not supported')
                log('ignored legacy %s request' % type(req).__name__)
                return True
            doc = req.doc
            if '$query' in doc:
                doc = doc['$query']
            db = doc.get('$db') or (req.namespace or 'admin').split('.')[0]
            if self.shutting_down:
                hello = next(iter(doc), '') in ('hello', 'isMaster', 'ismaster')
                raise CmdError(91, 'The server is in quiesce mode and will shut down') if hello \
                    else CmdError(11600, 'interrupted at shutdown')
            reply = self.run(db, doc, req)
        except Exception as e:
            reply = error_reply(e)
        if quiet:
            return True
        try:
            req.replies(reply)
        except Exception as e:  # e.g. a reply over 16 MiB
            req.replies(error_reply(e))
        return True


def error_parts(e):
    """Maps an exception to (code, errmsg, extra fields) for a reply."""
    if isinstance(e, CmdError):
        return e.code, str(e), e.extra
    if isinstance(e, DuplicateKeyError):
        d = e.details or {}
        return 11000, d.get('errmsg', str(e)), {k: d[k] for k in ('keyPattern', 'keyValue') if k in d}
    if isinstance(e, OperationFailure):
        return e.code or 2, str(e), {}
    if isinstance(e, NotImplementedError):
        return 238, ('mongo-standin (development stand-in, mongomock) does not implement '
                     'this: %s; run against a real mongod (MONGODB_URI)' % e), {}
    if isinstance(e, (TypeError, ValueError, KeyError, bson.errors.BSONError)):
        return 2, 'mongo-standin: bad request (%s: %s)' % (type(e).__name__, e), {}
    tb = traceback.extract_tb(e.__traceback__)[-1]
    log('internal error %s: %s at %s:%d' % (type(e).__name__, e, tb.filename, tb.lineno))
    return 1, 'mongo-standin internal error: %s: %s' % (type(e).__name__, e), {}


def error_reply(e):
    code, msg, extra = error_parts(e)
    return dict({'ok': 0, 'errmsg': msg, 'code': code,
                 'codeName': CODE_NAMES.get(code, 'Error')}, **extra)


# --- snapshot -------------------------------------------------------------------

def load_snapshot(st, path):
    with open(path, encoding='utf-8') as f:
        snap = json_util.loads(f.read())
    if snap.get('format') != SNAPSHOT_FORMAT:
        raise SystemExit('mongo-standin: %s is not a %s snapshot' % (path, SNAPSHOT_FORMAT))
    ndocs = 0
    for db, colls in snap['databases'].items():
        for name, c in colls.items():
            coll = st.coll(db, name)
            coll._store.create()
            if c['documents']:
                coll.insert_many(c['documents'])  # before indexes: no unique scans
            ndocs += len(c['documents'])
            for ix in c['indexes']:
                coll.create_index([tuple(k) for k in ix.pop('key')], **ix)
            if c['options']:
                st.options[(db, name)] = c['options']
    return ndocs


def save_snapshot(st, path):
    dbs = {}
    for db in st.client.list_database_names():
        for name in st.client[db].list_collection_names():
            coll = st.coll(db, name)
            ixs = [dict({k: v for k, v in i.items() if k != 'v'}, name=n,
                        key=[list(k) for k in i['key']])
                   for n, i in coll.index_information().items() if n != '_id_']
            dbs.setdefault(db, {})[name] = {
                'options': st.options.get((db, name), {}), 'indexes': ixs,
                'documents': list(coll._store.documents)}
    write_atomically(path, json_util.dumps({'format': SNAPSHOT_FORMAT, 'databases': dbs},
                                           json_options=json_util.CANONICAL_JSON_OPTIONS))
    return sum(len(c['documents']) for d in dbs.values() for c in d.values())


def write_atomically(path, text):
    """Readers see the old file or the whole new one, never a partial one."""
    tmp = '%s.tmp.%d' % (path, os.getpid())
    with open(tmp, 'w', encoding='utf-8') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description='MongoDB development/test stand-in '
                                 '(never for production)')
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--port', type=int, default=27017, help='0 picks a free port')
    ap.add_argument('--port-file', help='write the listening port here once accepting')
    ap.add_argument('--data-file', help='JSON snapshot: loaded at start, saved on stop')
    ap.add_argument('--shutdown-ms', type=int, default=0,
                    help='on stop, refuse requests as a mongod shutting down for this long')
    args = ap.parse_args()

    st = Standin()
    ndocs = 0
    if args.data_file and os.path.exists(args.data_file):
        try:
            ndocs = load_snapshot(st, args.data_file)
        except (OSError, ValueError, KeyError, TypeError, OperationFailure) as e:
            log('cannot load %s (%s: %s); move it away to start empty'
                % (args.data_file, type(e).__name__, e))
            return 1
    server = st.server = mockupdb.MockupDB(port=args.port, request_timeout=int(1e6))
    server._address = (args.host, args.port)  # MockupDB binds "localhost" otherwise
    server.autoresponds(st.handle)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        port = server.run()
    except OSError as e:
        log('cannot listen on %s:%d: %s' % (args.host, args.port, e))
        return 1
    if args.port_file:
        write_atomically(args.port_file, '%d\n' % port)
    log('started on %s:%d (development stand-in, never for production; %d documents loaded)'
        % (args.host, port, ndocs))
    while not stop.wait(3600):
        pass
    if args.shutdown_ms > 0:
        st.shutting_down = True  # read by the handler threads; a bool store is atomic
        log('shutting down: refusing requests for %d ms' % args.shutdown_ms)
        time.sleep(args.shutdown_ms / 1000.0)  # mongod's shutdown window, emulated
    # Hold mockupdb's lock: no request is half-applied while we save.
    server._lock.acquire()
    status = 0
    try:
        saved = save_snapshot(st, args.data_file) if args.data_file else 0
        log('stopped (%d documents saved%s)' % (saved, ' to ' + args.data_file
                                                 if args.data_file else ''))
    except (OSError, TypeError, ValueError) as e:
        log('stopped, but saving %s failed: %s: %s' % (args.data_file, type(e).__name__, e))
        status = 1
    # os._exit: mockupdb's atexit hook would join every client thread for 10 s.
    os._exit(status)


if __name__ == '__main__':
    sys.exit(main())
