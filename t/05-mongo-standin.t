#!/usr/bin/python3
# The MongoDB development stand-in (etc/dev/mongo-standin.py): started on a
# free loopback port in a temp dir, checked through libmongoc by
# build/t/prog/mongo_standin_check (its TAP is passed through, renumbered),
# then its own duties: answers _id-anchored filters by _id (an update by
# {_id, version} on 100,000 documents examines 1, as serverStatus counts),
# survives bad and unacknowledged requests, keeps data across a SIGTERM
# restart through --data-file, exits 0. The server is always
# killed, whatever happens (try/finally + signal handlers).
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STANDIN = os.path.join(ROOT, 'etc', 'dev', 'mongo-standin.py')
CHECK = os.path.join(ROOT, 'build', 't', 'prog', 'mongo_standin_check')
BENCH_READS = 2000
MIN_READS_PER_S = 1000  # measured ~6000/s on a 2-core dev box; a loose floor

n_tests = 0
failed = 0


def ok(cond, name):
    global n_tests, failed
    n_tests += 1
    failed += not cond
    print('%sok %d - %s' % ('' if cond else 'not ', n_tests, name), flush=True)
    return cond


def diag(msg):
    for line in str(msg).splitlines():
        print('# ' + line, flush=True)


class Server:
    """One stand-in process; stop() is idempotent and always reaps it."""

    def __init__(self, tmp, data_file):
        self.port_file = os.path.join(tmp, 'port')
        self.log_path = os.path.join(tmp, 'standin.log')
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        self.log = open(self.log_path, 'ab')
        self.proc = subprocess.Popen(
            ['/usr/bin/python3', STANDIN, '--host', '127.0.0.1', '--port', '0',
             '--port-file', self.port_file, '--data-file', data_file],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        self.port = None

    def wait_port(self, deadline_s=15.0):
        end = time.monotonic() + deadline_s
        while time.monotonic() < end and self.proc.poll() is None:
            try:
                with open(self.port_file) as f:
                    self.port = int(f.read().strip())
                return True
            except (OSError, ValueError):
                time.sleep(0.02)  # polling a condition with a deadline
        return False

    def stop(self, sig=signal.SIGTERM, deadline_s=10.0):
        """Signals the server and returns its exit status (None if it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(deadline_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        self.log.close()
        return self.proc.returncode


servers = []


def on_signal(signum, _frame):
    for s in servers:
        s.stop(signal.SIGKILL)
    sys.exit(128 + signum)


def run_check(port):
    """Runs the C check, re-emits its TAP under our numbering; returns its stdout."""
    env = dict(os.environ, MONGODB_URI='mongodb://127.0.0.1:%d/?serverSelectionTimeoutMS=3000'
               % port)
    try:
        p = subprocess.run([CHECK, '--bench', str(BENCH_READS)], env=env, timeout=180,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           errors='replace')
    except subprocess.TimeoutExpired:
        ok(False, 'mongo_standin_check finished within 180 s')
        return ''
    planned = None
    seen = 0
    for line in p.stdout.splitlines():
        if line.startswith('ok ') or line.startswith('not ok '):
            seen += 1
            cond = line.startswith('ok ')
            ok(cond, 'check: ' + line.split(' - ', 1)[-1])
        elif line.startswith('1..'):
            planned = int(line[3:].split()[0])
        elif line.startswith('Bail out!'):
            ok(False, 'check: ' + line)
        else:
            print(line if line.startswith('#') else '# ' + line, flush=True)
    diag(p.stderr.strip())
    ok(p.returncode == 0, 'mongo_standin_check exits 0 (got %d)' % p.returncode)
    ok(planned is not None and planned == seen and seen > 40,
       'check ran its whole plan (%s planned, %d seen)' % (planned, seen))
    return p.stdout


def check_bench(out):
    rate = None
    for line in out.splitlines():
        if 'reads/s' in line:
            rate = float(line.split(' = ')[1].split()[0])
    ok(rate is not None and rate >= MIN_READS_PER_S,
       'find by _id sustains >= %d reads/s (got %s)' % (MIN_READS_PER_S, rate))


BIG_DOCS = 100000
BIG_BATCH = 10000


def check_examined(server):
    """Filters anchored on _id read by _id, not by a scan: serverStatus's
    count of examined documents (metrics.queryExecutor.scannedObjects, and
    oponnStandin.lastCommand) says how many documents a command tested."""
    import pymongo

    c = pymongo.MongoClient('mongodb://127.0.0.1:%d/?serverSelectionTimeoutMS=3000' % server.port,
                            socketTimeoutMS=120000)
    db = c.standin_scan

    def examined(fn):
        """(fn's result, documents examined meanwhile, lastCommand)."""
        before = db.command('serverStatus')['metrics']['queryExecutor']['scannedObjects']
        r = fn()
        st = db.command('serverStatus')
        return r, st['metrics']['queryExecutor']['scannedObjects'] - before, \
            st['oponnStandin']['lastCommand']

    small = db.small
    small.insert_many([{'_id': 's%03d' % i, 'version': 1} for i in range(250)])
    r, n, last = examined(lambda: small.count_documents({'version': 1}))
    ok(r == 250 and n == 250, 'a filter without _id scans: 250 documents examined of 250 (got %s)'
       % n)
    r, n, last = examined(lambda: small.find_one({'_id': 's007'}))
    ok(r == {'_id': 's007', 'version': 1} and n == 1 and last['command'] == 'find'
       and last['docsExamined'] == 1, 'find by _id examines 1 (got %s, %s)' % (n, last))

    t0 = time.monotonic()
    big = db.big
    for k in range(0, BIG_DOCS, BIG_BATCH):
        big.insert_many([{'_id': 'b%06d' % i, 'version': 1} for i in range(k, k + BIG_BATCH)])
    diag('%d documents inserted in %.1f s' % (BIG_DOCS, time.monotonic() - t0))
    r, n, last = examined(lambda: big.update_many({'_id': 'b054321', 'version': {'$lt': 2}},
                                                  {'$inc': {'version': 1}}))
    ok(r.matched_count == 1 and r.modified_count == 1 and n == 1
       and last == {'command': 'update', 'ns': 'standin_scan.big', 'docsExamined': 1},
       'update by {_id, version} on %d documents: applied, 1 document examined (got %s, %s)'
       % (BIG_DOCS, n, last))
    r, n, last = examined(lambda: big.update_one({'_id': 'b054321', 'version': {'$lt': 2}},
                                                 {'$inc': {'version': 1}}))
    ok(r.matched_count == 0 and n == 1, 'the same update again: version too new, not applied, '
       '1 document examined (got %s)' % n)
    r, n, last = examined(lambda: list(big.find({'_id': {'$in': ['b000003', 'b000001', 'nope',
                                                                 'b054321']},
                                                 'version': 1}, sort=[('_id', 1)])))
    ok([d['_id'] for d in r] == ['b000001', 'b000003'] and n == 3,
       '_id $in plus a condition: the 3 existing ids examined, 2 match (got %s)' % n)
    r, n, last = examined(lambda: big.delete_many({'_id': {'$eq': 'b000002'}, 'version': 1}))
    ok(r.deleted_count == 1 and n == 1 and big.find_one({'_id': 'b000002'}) is None,
       'delete by {_id: {$eq}, version}: 1 document examined (got %s)' % n)
    try:
        big.find_one({'_id': 'b000005', 'version': {'$nosuch': 1}})
        ok(False, 'a bad operator beside _id is refused')
    except pymongo.errors.OperationFailure:
        ok(True, 'a bad operator beside _id is refused, as in a scan')
    db.drop_collection('big')  # keep the snapshot of the persistence check small
    c.close()


def check_robustness_and_persistence(server, tmp, data_file):
    """Uses Debian's pymongo (a python3-mongomock dependency) for the parts
    only a stand-in has: surviving odd requests and the snapshot file."""
    import pymongo
    from pymongo.errors import OperationFailure

    uri = 'mongodb://127.0.0.1:%d/?serverSelectionTimeoutMS=3000' % server.port
    c = pymongo.MongoClient(uri, socketTimeoutMS=5000)
    db = c.standin_t
    try:
        db.command('find', 'x', filter=5)
        ok(False, 'malformed find is refused')
    except OperationFailure as e:
        ok(e.code == 2, 'malformed find refused with BadValue, no hang (%s)' % e.code)
    db.x.with_options(write_concern=pymongo.WriteConcern(w=0)).insert_one({'_id': 'w0'})
    ok(db.x.find_one({'_id': 'w0'}) is not None, 'unacknowledged (moreToCome) write applied')
    db.books.create_index('isbn', unique=True)
    db.books.insert_many([{'_id': i, 'isbn': 'isbn-%d' % i} for i in range(250)])
    db.command('collMod', 'books', validator={'isbn': {'$type': 'string'}})
    c.close()

    status = server.stop()
    ok(status == 0, 'SIGTERM: exit status 0 (got %s)' % status)
    with open(server.log_path) as f:
        log = f.read()
    ok('started on 127.0.0.1:' in log and 'stopped (' in log, 'one log line at start and stop')
    ok(os.path.exists(data_file) and not [f for f in os.listdir(tmp) if '.tmp.' in f],
       'snapshot written atomically (no temp file left)')

    again = Server(tmp, data_file)
    servers.append(again)
    if not ok(again.wait_port(), 'restarted stand-in publishes its port'):
        return
    c = pymongo.MongoClient('mongodb://127.0.0.1:%d/?serverSelectionTimeoutMS=3000' % again.port)
    db = c.standin_t
    ok(db.books.count_documents({}) == 250 and db.books.find_one({'_id': 249})['isbn'] ==
       'isbn-249', 'documents survive the restart')
    try:
        db.books.insert_one({'isbn': 'isbn-7'})
        ok(False, 'unique index survives the restart')
    except pymongo.errors.DuplicateKeyError as e:
        ok('isbn_1' in str(e), 'unique index survives the restart')
    opts = db.command('listCollections', filter={'name': 'books'})['cursor']['firstBatch']
    ok(opts and 'validator' in opts[0]['options'], 'collMod validator kept in options')
    c.close()
    ok(again.stop(signal.SIGINT) == 0, 'SIGINT: exit status 0')


def main():
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    if not os.access(CHECK, os.X_OK):
        print('Bail out! %s is missing: run make first' % CHECK)
        return 1
    tmp = tempfile.mkdtemp(prefix='oponn-standin-')
    data_file = os.path.join(tmp, 'data.json')
    try:
        server = Server(tmp, data_file)
        servers.append(server)
        if not ok(server.wait_port(), 'stand-in writes its port file once accepting'):
            with open(server.log_path) as f:
                diag(f.read())
            return 1
        out = run_check(server.port)
        check_bench(out)
        check_examined(server)
        check_robustness_and_persistence(server, tmp, data_file)
    except Exception:
        ok(False, 'test script ran without an exception')
        diag(traceback.format_exc())
    finally:
        for s in servers:
            s.stop(signal.SIGKILL, 5)
        if failed:
            with open(os.path.join(tmp, 'standin.log')) as f:
                diag(f.read())
        shutil.rmtree(tmp, ignore_errors=True)
    print('1..%d' % n_tests)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
