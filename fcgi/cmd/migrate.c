/*
 * oponn migrate — applies the schema/ collection specs (*.json) to MongoDB, idempotently.
 *
 * Each spec file names a collection, its $jsonSchema validator (with
 * validationLevel/Action) and its indexes. A missing collection is created
 * with the validator; an existing one gets it with collMod; indexes go
 * through createIndexes, which does nothing for an index that already exists
 * with the same spec. Running it twice changes nothing the second time.
 *
 * Also owns cmd_store_open(), the MongoDB connection every admin command
 * that needs one (migrate, ingest) opens the same way.
 */
#include "cmd.h"

#include "cfg.h"
#include "store.h"

#include <dirent.h>
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_store_open(const char *cmd, cfg_t *cfg, store_t **out)
{
    err_t e = {0};
    *out = NULL;
    if (cfg_load(cfg, &e) != 0) {
        fprintf(stderr, "oponn %s: %s\n", cmd, e.msg);
        return CMD_USAGE;
    }
    mongoc_init();
    if (store_open(out, cfg, &e) != 0 || store_ping(*out, &e) != 0) {
        fprintf(stderr, "oponn %s: %s\n", cmd, e.msg);
        store_close(*out);
        *out = NULL;
        mongoc_cleanup();
        return CMD_FAILED;
    }
    return CMD_OK;
}

void cmd_store_close(store_t *s)
{
    store_close(s);
    mongoc_cleanup();
}

static bson_t *migrate__read(const char *path, err_t *e)
{
    bson_error_t berr;
    bson_json_reader_t *rd = bson_json_reader_new_from_file(path, &berr);
    if (rd == NULL) {
        err_set(e, ERR_INTERNAL, "%s: %s", path, berr.message);
        return NULL;
    }
    bson_t *doc = bson_new();
    int r = bson_json_reader_read(rd, doc, &berr);
    bson_json_reader_destroy(rd);
    if (r != 1) {
        bson_destroy(doc);
        err_set(e, ERR_INTERNAL, "%s: not a JSON document: %s", path,
                r < 0 ? berr.message : "empty file");
        return NULL;
    }
    return doc;
}

/* Copies the spec's field `key` into cmd when present. */
static void migrate__copy(const bson_t *spec, const char *key, bson_t *cmd)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, spec, key)) bson_append_iter(cmd, key, -1, &it);
}

static int migrate__apply(store_t *s, const char *path, err_t *e)
{
    bson_t *spec = migrate__read(path, e);
    if (spec == NULL) return -1;
    bson_iter_t it;
    int rc = -1;
    if (!bson_iter_init_find(&it, spec, "collection") || !BSON_ITER_HOLDS_UTF8(&it)) {
        err_set(e, ERR_INTERNAL, "%s: no \"collection\" string", path);
        goto out;
    }
    const char *coll = bson_iter_utf8(&it, NULL);
    bool exists;
    if (store_has_collection(s, coll, &exists, e) != 0) goto out;
    bson_t cmd = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&cmd, exists ? "collMod" : "create", coll);
    migrate__copy(spec, "validator", &cmd);
    migrate__copy(spec, "validationLevel", &cmd);
    migrate__copy(spec, "validationAction", &cmd);
    rc = store_command(s, &cmd, NULL, e);
    bson_destroy(&cmd);
    if (rc != 0) goto out;
    int nidx = 0;
    if (bson_iter_init_find(&it, spec, "indexes") && BSON_ITER_HOLDS_ARRAY(&it)) {
        bson_iter_t ai;
        bson_iter_recurse(&it, &ai);
        while (bson_iter_next(&ai)) nidx++;
        bson_t ci = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&ci, "createIndexes", coll);
        bson_append_iter(&ci, "indexes", -1, &it);
        rc = store_command(s, &ci, NULL, e);
        bson_destroy(&ci);
        if (rc != 0) goto out;
    }
    printf("migrate: %-10s %s validator, %d index(es) ensured\n", coll,
           exists ? "updated" : "created with", nidx);
out:
    bson_destroy(spec);
    return rc;
}

static int migrate__cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cmd_migrate(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: oponn migrate\n"
                   "Applies every collection spec in $OPONN_MONGO_SCHEMA_DIR (default schema/):\n"
                   "creates the collection with its validator or updates it (collMod), then\n"
                   "creates its indexes. Idempotent. Exit 0 ok, 1 failed.\n");
            return CMD_OK;
        }
        fprintf(stderr, "oponn migrate: unknown option %s (try --help)\n", argv[i]);
        return CMD_USAGE;
    }
    cfg_t cfg;
    store_t *s;
    int rc = cmd_store_open("migrate", &cfg, &s);
    if (rc != CMD_OK) return rc;
    DIR *d = opendir(cfg.mongo_schema_dir);
    if (d == NULL) {
        fprintf(stderr, "oponn migrate: cannot open %s (OPONN_MONGO_SCHEMA_DIR)\n",
                cfg.mongo_schema_dir);
        cmd_store_close(s);
        return CMD_FAILED;
    }
    char *names[64];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < 64) {
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0) names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, migrate__cmp);
    err_t e = {0};
    rc = CMD_OK;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", cfg.mongo_schema_dir, names[i]);
        if (rc == CMD_OK && migrate__apply(s, path, &e) != 0) {
            fprintf(stderr, "oponn migrate: %s: %s\n", names[i], e.msg);
            rc = CMD_FAILED;
        }
        free(names[i]);
    }
    if (n == 0) {
        fprintf(stderr, "oponn migrate: no *.json in %s\n", cfg.mongo_schema_dir);
        rc = CMD_FAILED;
    }
    cmd_store_close(s);
    return rc;
}
