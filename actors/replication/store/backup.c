/*  backup.c - encrypted backups of config.db + cluster.db, and secrets at
    rest (see backup.h for the formats and the choices).

    Creating: copy both databases into private in-memory databases with the
    backup API (one read transaction, so the pair is consistent), re-seal
    their secrets with the passphrase, serialise them, and stream manifest
    and images through crypto_secretstream into FILE.tmp, then fsync and
    rename. Restoring: decrypt all in memory, check the images (quick_check
    in an in-memory database), re-seal the secrets with this node's key,
    journal both images to restore.pending, copy them in, remove the
    journal.
*/
#include "backup.h"
#include "cw_text.h"
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cw_log.h"

#ifndef CW_VERSION
#define CW_VERSION "unknown"
#endif

#define S_CHUNK 65536
#define S_HEADER_BYTES (9 + 1 + 8 + 8 + crypto_pwhash_SALTBYTES + crypto_secretstream_xchacha20poly1305_HEADERBYTES)
#define S_KDF_ARGON2ID13 1
#define S_PENDING_MAGIC "CWRESTORE1"
#define S_MAX_FILE ((uint64_t) 8 << 30)

static void
s_put_le (unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p [i] = (unsigned char) (v >> (8 * i));
}

static uint64_t
s_get_le (const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = (v << 8) | p [i];
    return v;
}

static int
s_write_all (int fd, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t n = write (fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

//  fsync the directory holding PATH (so a rename or unlink is durable).
static int
s_fsync_dir (const char *path)
{
    char *copy = strdup (path);
    if (!copy)
        return -1;
    int fd = open (dirname (copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free (copy);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    close (fd);
    return rc;
}

//  Read all of PATH (at most S_MAX_FILE bytes). Caller frees.
static unsigned char *
s_read_file (const char *path, size_t *len, char *err, size_t errlen)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cw_errorf (err, errlen, "cannot open %s: %s", path, strerror (errno));
        return NULL;
    }
    struct stat st;
    if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode) || (uint64_t) st.st_size > S_MAX_FILE) {
        cw_errorf (err, errlen, "%s is not a regular file of a possible size", path);
        close (fd);
        return NULL;
    }
    size_t size = (size_t) st.st_size;
    unsigned char *data = malloc (size ? size : 1);
    size_t got = 0;
    while (data && got < size) {
        ssize_t n = read (fd, data + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t) n;
    }
    close (fd);
    if (!data || got != size) {
        cw_errorf (err, errlen, "cannot read %s", path);
        free (data);
        return NULL;
    }
    *len = size;
    return data;
}

//  Write DATA to PATH atomically and durably: PATH.tmp (0600), fsync,
//  rename, fsync the directory.
static int
s_write_file_atomic (const char *path, const unsigned char *const *parts, const size_t *lens, int count, char *err,
                     size_t errlen)
{
    size_t tlen = strlen (path) + 5;
    char *tmp = malloc (tlen);
    if (!tmp) {
        cw_errorf (err, errlen, "out of memory");
        return -1;
    }
    snprintf (tmp, tlen, "%s.tmp", path);
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = fd < 0 ? -1 : fchmod (fd, 0600);
    for (int i = 0; i < count && rc == 0; i++)
        rc = s_write_all (fd, parts [i], lens [i]);
    if (rc == 0)
        rc = fsync (fd);
    if (fd >= 0 && close (fd) != 0)
        rc = -1;
    if (rc == 0)
        rc = rename (tmp, path);
    if (rc == 0)
        s_fsync_dir (path);
    if (rc != 0) {
        cw_errorf (err, errlen, "cannot write %s: %s", path, strerror (errno));
        unlink (tmp);
    }
    free (tmp);
    return rc;
}

// ---------------------------------------------------------------------------
//  Secrets at rest

int
cw_secret_key_load (const char *state_dir, unsigned char key [CW_SECRET_KEY_BYTES], char *err, size_t errlen)
{
    if (sodium_init () < 0) {
        cw_errorf (err, errlen, "libsodium initialisation failed");
        return -1;
    }
    char path [4096], tmp [4200];
    snprintf (path, sizeof (path), "%s/%s", state_dir, CW_SECRET_KEY_FILE);
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0) {
            struct stat st;
            ssize_t n = -1;
            if (fstat (fd, &st) == 0) {
                if (st.st_mode & 077) {
                    close (fd);
                    cw_errorf (err, errlen,
                               "%s is readable by others (mode %03o): it protects every "
                               "secret of this node; chmod 600 it",
                               path, st.st_mode & 0777);
                    return -1;
                }
                n = read (fd, key, CW_SECRET_KEY_BYTES);
                if (n == CW_SECRET_KEY_BYTES && st.st_size != CW_SECRET_KEY_BYTES)
                    n = -1;
            }
            close (fd);
            if (n != CW_SECRET_KEY_BYTES) {
                sodium_memzero (key, CW_SECRET_KEY_BYTES);
                cw_errorf (err, errlen, "%s is not a %d-byte key file", path, CW_SECRET_KEY_BYTES);
                return -1;
            }
            return 0;
        }
        if (errno != ENOENT) {
            cw_errorf (err, errlen, "cannot open %s: %s", path, strerror (errno));
            return -1;
        }
        //  First use: write a new key aside, then link it in place (fails
        //  if another process created one meanwhile: then use that one).
        unsigned char fresh [CW_SECRET_KEY_BYTES];
        randombytes_buf (fresh, sizeof (fresh));
        snprintf (tmp, sizeof (tmp), "%s.%d.tmp", path, (int) getpid ());
        fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        int rc = fd < 0 ? -1 : fchmod (fd, 0600);
        if (rc == 0)
            rc = s_write_all (fd, fresh, sizeof (fresh));
        if (rc == 0)
            rc = fsync (fd);
        if (fd >= 0)
            close (fd);
        sodium_memzero (fresh, sizeof (fresh));
        if (rc == 0 && link (tmp, path) != 0 && errno != EEXIST)
            rc = -1;
        int saved = errno;
        unlink (tmp);
        if (rc != 0) {
            cw_errorf (err, errlen, "cannot create %s: %s", path, strerror (saved));
            return -1;
        }
        s_fsync_dir (path);
        cw_info ("secrets: created the node key path=%s", path);
    }
    cw_errorf (err, errlen, "cannot load %s", path);
    return -1;
}

char *
cw_secret_seal (const unsigned char key [CW_SECRET_KEY_BYTES], const char *plaintext)
{
    if (sodium_init () < 0 || !plaintext)
        return NULL;
    size_t plen = strlen (plaintext);
    size_t blen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plen;
    unsigned char *box = malloc (blen);
    if (!box)
        return NULL;
    randombytes_buf (box, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy (box + crypto_secretbox_NONCEBYTES, (const unsigned char *) plaintext, plen, box, key);
    size_t b64len = sodium_base64_ENCODED_LEN (blen, sodium_base64_VARIANT_ORIGINAL);
    size_t prefix = strlen (CW_SECRET_PREFIX);
    char *out = malloc (prefix + b64len);
    if (out) {
        memcpy (out, CW_SECRET_PREFIX, prefix);
        sodium_bin2base64 (out + prefix, b64len, box, blen, sodium_base64_VARIANT_ORIGINAL);
    }
    free (box);
    return out;
}

char *
cw_secret_open (const unsigned char key [CW_SECRET_KEY_BYTES], const char *sealed, char *err, size_t errlen)
{
    if (sodium_init () < 0 || !sealed || strncmp (sealed, CW_SECRET_PREFIX, strlen (CW_SECRET_PREFIX)) != 0) {
        cw_errorf (err, errlen, "not a sealed secret");
        return NULL;
    }
    const char *b64 = sealed + strlen (CW_SECRET_PREFIX);
    size_t b64len = strlen (b64);
    size_t cap = b64len / 4 * 3 + 3;
    unsigned char *box = malloc (cap);
    size_t blen = 0;
    if (!box || sodium_base642bin (box, cap, b64, b64len, NULL, &blen, NULL, sodium_base64_VARIANT_ORIGINAL) != 0
        || blen < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
        free (box);
        cw_errorf (err, errlen, "damaged sealed secret");
        return NULL;
    }
    size_t plen = blen - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
    char *plain = malloc (plen + 1);
    if (!plain
        || crypto_secretbox_open_easy ((unsigned char *) plain, box + crypto_secretbox_NONCEBYTES,
                                       blen - crypto_secretbox_NONCEBYTES, box, key)
               != 0) {
        free (plain);
        free (box);
        cw_errorf (err, errlen,
                   "the sealed secret does not open with this key (another node's, "
                   "or damaged)");
        return NULL;
    }
    plain [plen] = 0;
    free (box);
    if (strlen (plain) != plen) {
        sodium_memzero (plain, plen);
        free (plain);
        cw_errorf (err, errlen, "damaged sealed secret");
        return NULL;
    }
    return plain;
}

bool
cw_secret_is_sealed (const char *value)
{
    if (!value)
        return false;
    if (*value == '"')
        value++;
    return strncmp (value, CW_SECRET_PREFIX, strlen (CW_SECRET_PREFIX)) == 0;
}

// ---------------------------------------------------------------------------
//  Database images

//  A private in-memory copy of SCHEMA of DB (backup API: one read).
static sqlite3 *
s_mem_copy (sqlite3 *db, const char *schema, char *err, size_t errlen)
{
    sqlite3 *mem = NULL;
    if (sqlite3_open_v2 (":memory:", &mem, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        cw_errorf (err, errlen, "out of memory");
        sqlite3_close_v2 (mem);
        return NULL;
    }
    sqlite3_backup *backup = sqlite3_backup_init (mem, "main", db, schema);
    int rc = backup ? sqlite3_backup_step (backup, -1) : SQLITE_ERROR;
    int frc = backup ? sqlite3_backup_finish (backup) : SQLITE_ERROR;
    if (rc != SQLITE_DONE || frc != SQLITE_OK) {
        cw_errorf (err, errlen, "cannot copy database %s: %s", schema, sqlite3_errmsg (mem));
        sqlite3_close_v2 (mem);
        return NULL;
    }
    return mem;
}

//  Open IMAGE (LEN bytes) in a private in-memory database and check it.
static sqlite3 *
s_image_open (const unsigned char *image, uint64_t len, char *err, size_t errlen)
{
    if (len < 512 || memcmp (image, "SQLite format 3", 16) != 0) {
        cw_errorf (err, errlen, "not an SQLite database image");
        return NULL;
    }
    unsigned char *copy = sqlite3_malloc64 (len);
    sqlite3 *mem = NULL;
    if (!copy || sqlite3_open_v2 (":memory:", &mem, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        sqlite3_free (copy);
        sqlite3_close_v2 (mem);
        cw_errorf (err, errlen, "out of memory");
        return NULL;
    }
    memcpy (copy, image, len);
    copy [18] = copy [19] = 1;    //  WAL images open in memory as rollback-mode
    sqlite3_db_config (mem, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config (mem, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    if (sqlite3_deserialize (mem, "main", copy, (sqlite3_int64) len, (sqlite3_int64) len,
                             SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE)
        != SQLITE_OK) {
        cw_errorf (err, errlen, "cannot open a database image: %s", sqlite3_errmsg (mem));
        sqlite3_close_v2 (mem);
        return NULL;
    }
    sqlite3_stmt *stmt = NULL;
    bool ok = sqlite3_prepare_v2 (mem, "PRAGMA quick_check(1)", -1, &stmt, NULL) == SQLITE_OK
           && sqlite3_step (stmt) == SQLITE_ROW && sqlite3_column_text (stmt, 0)
           && strcmp ((const char *) sqlite3_column_text (stmt, 0), "ok") == 0;
    sqlite3_finalize (stmt);
    if (!ok) {
        cw_errorf (err, errlen, "a database image is damaged");
        sqlite3_close_v2 (mem);
        return NULL;
    }
    return mem;
}

//  Serialize MEM (caller frees with sqlite3_free).
static unsigned char *
s_mem_image (sqlite3 *mem, uint64_t *len, char *err, size_t errlen)
{
    sqlite3_int64 size = 0;
    unsigned char *image = sqlite3_serialize (mem, "main", &size, 0);
    if (!image || size <= 0) {
        sqlite3_free (image);
        cw_errorf (err, errlen, "cannot serialize a database: %s", sqlite3_errmsg (mem));
        return NULL;
    }
    *len = (uint64_t) size;
    return image;
}

//  Copy MEM over SCHEMA of DB: one write transaction.
static int
s_mem_restore (sqlite3 *db, const char *schema, sqlite3 *mem, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = NULL;
    int64_t dest_page = 0, src_page = 0;
    char sql [160];
    snprintf (sql, sizeof (sql), "PRAGMA \"%s\".page_size", schema);
    if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) == SQLITE_OK && sqlite3_step (stmt) == SQLITE_ROW)
        dest_page = sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    if (sqlite3_prepare_v2 (mem, "PRAGMA page_size", -1, &stmt, NULL) == SQLITE_OK && sqlite3_step (stmt) == SQLITE_ROW)
        src_page = sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    if (!dest_page || dest_page != src_page) {
        cw_errorf (err, errlen, "database %s: page size %lld, the backup's is %lld", schema, (long long) dest_page,
                   (long long) src_page);
        return -1;
    }
    sqlite3_backup *backup = sqlite3_backup_init (db, schema, mem, "main");
    if (!backup) {
        cw_errorf (err, errlen, "cannot restore database %s: %s", schema, sqlite3_errmsg (db));
        return -1;
    }
    int rc = sqlite3_backup_step (backup, -1);
    int frc = sqlite3_backup_finish (backup);
    if (rc != SQLITE_DONE || frc != SQLITE_OK) {
        cw_errorf (err, errlen, "cannot restore database %s: %s", schema,
                   sqlite3_errstr (rc != SQLITE_DONE ? rc : frc));
        return -1;
    }
    return 0;
}

//  Re-seal every sealed value in tables of MEM that have a "value" column:
//  open with FROM, seal with TO. Values that do not open are left as they
//  are (counted in *FAILED). *COUNT = values re-sealed.
static int
s_reseal (sqlite3 *mem, const unsigned char *from, const unsigned char *to, int *count, int *failed, char *err,
          size_t errlen)
{
    *count = 0;
    *failed = 0;
    if (!from || !to)
        return 0;
    sqlite3_stmt *tables = NULL;
    if (sqlite3_prepare_v2 (mem,
                            "SELECT s.name FROM sqlite_schema AS s WHERE s.type = 'table' "
                            "AND s.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND EXISTS ("
                            "SELECT 1 FROM pragma_table_info (s.name) AS c "
                            "WHERE c.name = 'value')",
                            -1, &tables, NULL)
        != SQLITE_OK) {
        cw_errorf (err, errlen, "cannot list tables: %s", sqlite3_errmsg (mem));
        return -1;
    }
    int result = 0;
    while (result == 0 && sqlite3_step (tables) == SQLITE_ROW) {
        char *select = sqlite3_mprintf ("SELECT rowid, value FROM \"%w\" WHERE "
                                        "instr (value, '" CW_SECRET_PREFIX "') > 0",
                                        (const char *) sqlite3_column_text (tables, 0));
        char *update = sqlite3_mprintf ("UPDATE \"%w\" SET value = ?1 WHERE rowid = ?2",
                                        (const char *) sqlite3_column_text (tables, 0));
        sqlite3_stmt *rows = NULL, *write = NULL;
        if (!select || !update || sqlite3_prepare_v2 (mem, select, -1, &rows, NULL) != SQLITE_OK
            || sqlite3_prepare_v2 (mem, update, -1, &write, NULL) != SQLITE_OK) {
            //  e.g. a WITHOUT ROWID table: not a configuration table
            sqlite3_finalize (rows);
            rows = NULL;
        }
        while (rows && sqlite3_step (rows) == SQLITE_ROW) {
            const char *value = (const char *) sqlite3_column_text (rows, 1);
            if (!value || !cw_secret_is_sealed (value))
                continue;
            //  JSON text "\"sealed:...\"" or bare sealed:...
            bool quoted = value [0] == '"';
            char *sealed = strdup (value + (quoted ? 1 : 0));
            if (!sealed) {
                result = -1;
                break;
            }
            size_t slen = strlen (sealed);
            if (quoted && slen && sealed [slen - 1] == '"')
                sealed [slen - 1] = 0;
            char *plain = cw_secret_open (from, sealed, NULL, 0);
            free (sealed);
            if (!plain) {
                (*failed)++;
                continue;
            }
            char *resealed = cw_secret_seal (to, plain);
            sodium_memzero (plain, strlen (plain));
            free (plain);
            if (!resealed) {
                result = -1;
                break;
            }
            char *text = sqlite3_mprintf (quoted ? "\"%s\"" : "%s", resealed);
            free (resealed);
            sqlite3_bind_text (write, 1, text, -1, sqlite3_free);
            sqlite3_bind_int64 (write, 2, sqlite3_column_int64 (rows, 0));
            if (sqlite3_step (write) != SQLITE_DONE)
                result = -1;
            sqlite3_reset (write);
            (*count)++;
        }
        sqlite3_finalize (rows);
        sqlite3_finalize (write);
        sqlite3_free (select);
        sqlite3_free (update);
    }
    sqlite3_finalize (tables);
    if (result)
        cw_errorf (err, errlen, "cannot re-seal the secrets: %s", sqlite3_errmsg (mem));
    if (*failed)
        cw_warn ("backup: sealed values left as they were count=%d (they do not open with the "
                 "key at hand)",
                 *failed);
    return result;
}

//  Re-seal the secrets of both databases (open with FROM, seal with TO)
//  and serialize them: *CONFIG_IMAGE and *CLUSTER_IMAGE (caller frees both
//  with sqlite3_free, also on failure), their lengths, and the number of
//  values re-sealed in *RESEALED. 0, or -1 with ERR.
static int
s_reseal_images (sqlite3 *config, sqlite3 *cluster, const unsigned char *from, const unsigned char *to,
                 unsigned char **config_image, uint64_t *config_len, unsigned char **cluster_image,
                 uint64_t *cluster_len, int *resealed, char *err, size_t errlen)
{
    int count [2] = { 0, 0 }, failed [2] = { 0, 0 };
    if (s_reseal (config, from, to, &count [0], &failed [0], err, errlen)
        || s_reseal (cluster, from, to, &count [1], &failed [1], err, errlen))
        return -1;
    *resealed = count [0] + count [1];
    *config_image = s_mem_image (config, config_len, err, errlen);
    *cluster_image = *config_image ? s_mem_image (cluster, cluster_len, err, errlen) : NULL;
    return *cluster_image ? 0 : -1;
}

static void
s_meta_of (sqlite3 *cluster, int64_t *applied_seq, char *cluster_id, size_t idlen)
{
    *applied_seq = 0;
    snprintf (cluster_id, idlen, "%s", "");
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (cluster,
                            "SELECT name, value FROM replog_meta WHERE name IN "
                            "('applied_seq', 'cluster_id')",
                            -1, &stmt, NULL)
        != SQLITE_OK)
        return;
    while (sqlite3_step (stmt) == SQLITE_ROW) {
        const char *name = (const char *) sqlite3_column_text (stmt, 0);
        if (name && strcmp (name, "applied_seq") == 0)
            *applied_seq = sqlite3_column_int64 (stmt, 1);
        else if (name && sqlite3_column_text (stmt, 1))
            snprintf (cluster_id, idlen, "%s", (const char *) sqlite3_column_text (stmt, 1));
    }
    sqlite3_finalize (stmt);
}

// ---------------------------------------------------------------------------
//  Keys

typedef struct {
    unsigned char stream [crypto_secretstream_xchacha20poly1305_KEYBYTES];
    unsigned char secrets [CW_SECRET_KEY_BYTES];
} s_keys_t;

static int
s_derive (const char *passphrase, const unsigned char *salt, uint64_t opslimit, uint64_t memlimit, s_keys_t *keys)
{
    unsigned char master [crypto_kdf_KEYBYTES];
    if (crypto_pwhash (master, sizeof (master), passphrase, strlen (passphrase), salt, opslimit, (size_t) memlimit,
                       crypto_pwhash_ALG_ARGON2ID13)
        != 0)
        return -1;
    crypto_kdf_derive_from_key (keys->stream, sizeof (keys->stream), 1, "CWBACKUP", master);
    crypto_kdf_derive_from_key (keys->secrets, sizeof (keys->secrets), 2, "CWBACKUP", master);
    sodium_memzero (master, sizeof (master));
    return 0;
}

// ---------------------------------------------------------------------------
//  Create

typedef struct {
    crypto_secretstream_xchacha20poly1305_state state;
    unsigned char header [S_HEADER_BYTES];
    unsigned char plain [S_CHUNK];
    size_t fill;
    unsigned char *out;    //  the whole encrypted file, grown as needed
    size_t out_len, out_cap;
    int failed;
} s_writer_t;

static void
s_writer_emit (s_writer_t *w, unsigned char tag)
{
    size_t clen = w->fill + crypto_secretstream_xchacha20poly1305_ABYTES;
    if (w->out_len + 4 + clen > w->out_cap) {
        size_t cap = (w->out_cap + 4 + clen) * 2;
        unsigned char *grown = realloc (w->out, cap);
        if (!grown) {
            w->failed = 1;
            return;
        }
        w->out = grown;
        w->out_cap = cap;
    }
    s_put_le (w->out + w->out_len, clen, 4);
    crypto_secretstream_xchacha20poly1305_push (&w->state, w->out + w->out_len + 4, NULL, w->plain, w->fill, w->header,
                                                sizeof (w->header), tag);
    w->out_len += 4 + clen;
    w->fill = 0;
}

static void
s_writer_put (s_writer_t *w, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0 && !w->failed) {
        size_t n = S_CHUNK - w->fill < len ? S_CHUNK - w->fill : len;
        memcpy (w->plain + w->fill, p, n);
        w->fill += n;
        p += n;
        len -= n;
        if (w->fill == S_CHUNK)
            s_writer_emit (w, 0);
    }
}

int
cw_backup_create (sqlite3 *db, const char *cluster_schema, const char *file, const char *passphrase,
                  const char *node_name, const unsigned char *node_key, char *err, size_t errlen)
{
    cluster_schema = cluster_schema ? cluster_schema : "cluster";
    if (!passphrase || !*passphrase) {
        cw_errorf (err, errlen, "a backup needs a passphrase");
        return -1;
    }
    if (sodium_init () < 0) {
        cw_errorf (err, errlen, "libsodium initialisation failed");
        return -1;
    }
    if (!sqlite3_get_autocommit (db)) {
        cw_errorf (err, errlen, "backup: the database is in a transaction");
        return -1;
    }
    //  One read transaction over both files: a consistent pair.
    sqlite3 *config = NULL, *cluster = NULL;
    char sql [200];
    snprintf (sql, sizeof (sql),
              "BEGIN; SELECT count (*) FROM main.sqlite_schema; "
              "SELECT count (*) FROM \"%s\".sqlite_schema;",
              cluster_schema);
    if (sqlite3_exec (db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        cw_errorf (err, errlen, "backup: cannot read the databases: %s", sqlite3_errmsg (db));
        sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    config = s_mem_copy (db, "main", err, errlen);
    cluster = config ? s_mem_copy (db, cluster_schema, err, errlen) : NULL;
    sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
    if (!config || !cluster) {
        sqlite3_close_v2 (config);
        sqlite3_close_v2 (cluster);
        return -1;
    }

    s_writer_t *w = calloc (1, sizeof (*w));
    s_keys_t keys;
    unsigned char *config_image = NULL, *cluster_image = NULL;
    char *manifest_text = NULL;
    int result = -1;
    if (!w) {
        cw_errorf (err, errlen, "out of memory");
        goto done;
    }
    uint64_t opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
    uint64_t memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;
    unsigned char *h = w->header;
    memcpy (h, CW_BACKUP_MAGIC, 9);
    h [9] = S_KDF_ARGON2ID13;
    s_put_le (h + 10, opslimit, 8);
    s_put_le (h + 18, memlimit, 8);
    unsigned char *salt = h + 26;
    randombytes_buf (salt, crypto_pwhash_SALTBYTES);
    if (s_derive (passphrase, salt, opslimit, memlimit, &keys)) {
        cw_errorf (err, errlen, "backup: key derivation failed (out of memory?)");
        goto done;
    }
    crypto_secretstream_xchacha20poly1305_init_push (&w->state, h + 26 + crypto_pwhash_SALTBYTES, keys.stream);
    uint64_t config_len = 0, cluster_len = 0;
    int resealed = 0;
    if (s_reseal_images (config, cluster, node_key, keys.secrets, &config_image, &config_len, &cluster_image,
                         &cluster_len, &resealed, err, errlen))
        goto done;

    int64_t applied_seq = 0;
    char cluster_id [80];
    s_meta_of (cluster, &applied_seq, cluster_id, sizeof (cluster_id));
    char created_at [32];
    time_t now = time (NULL);
    struct tm tm;
    gmtime_r (&now, &tm);
    strftime (created_at, sizeof (created_at), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *manifest = json_pack ("{s:s, s:i, s:s, s:s, s:I, s:s, s:s, s:I, s:I, s:i}", "format", "causeway-backup",
                                  "version", 1, "node_name", node_name ? node_name : "", "created_at", created_at,
                                  "applied_seq", (json_int_t) applied_seq, "cluster_id", cluster_id, "software_version",
                                  CW_VERSION, "config_db_bytes", (json_int_t) config_len, "cluster_db_bytes",
                                  (json_int_t) cluster_len, "secrets_resealed", resealed);
    manifest_text = manifest ? json_dumps (manifest, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref (manifest);
    if (!manifest_text) {
        cw_errorf (err, errlen, "out of memory");
        goto done;
    }
    unsigned char len_bytes [8];
    s_put_le (len_bytes, strlen (manifest_text), 4);
    s_writer_put (w, len_bytes, 4);
    s_writer_put (w, manifest_text, strlen (manifest_text));
    s_put_le (len_bytes, config_len, 8);
    s_writer_put (w, len_bytes, 8);
    s_writer_put (w, config_image, config_len);
    s_put_le (len_bytes, cluster_len, 8);
    s_writer_put (w, len_bytes, 8);
    s_writer_put (w, cluster_image, cluster_len);
    s_writer_emit (w, crypto_secretstream_xchacha20poly1305_TAG_FINAL);
    if (w->failed) {
        cw_errorf (err, errlen, "out of memory");
        goto done;
    }
    const unsigned char *parts [2] = { w->header, w->out };
    size_t lens [2] = { sizeof (w->header), w->out_len };
    if (s_write_file_atomic (file, parts, lens, 2, err, errlen))
        goto done;
    cw_info ("backup: created file=%s bytes=%zu applied_seq=%lld secrets_resealed=%d", file,
             sizeof (w->header) + w->out_len, (long long) applied_seq, resealed);
    result = 0;
done:
    sodium_memzero (&keys, sizeof (keys));
    if (w) {
        sodium_memzero (w->plain, sizeof (w->plain));
        free (w->out);
        free (w);
    }
    free (manifest_text);
    sqlite3_free (config_image);
    sqlite3_free (cluster_image);
    sqlite3_close_v2 (config);
    sqlite3_close_v2 (cluster);
    return result;
}

// ---------------------------------------------------------------------------
//  Decrypt

typedef struct {
    json_t *manifest;
    unsigned char *plain;    //  the whole plaintext
    size_t plain_len;
    const unsigned char *config;
    uint64_t config_len;
    const unsigned char *cluster;
    uint64_t cluster_len;
    s_keys_t keys;
} s_contents_t;

static void
s_contents_free (s_contents_t *c)
{
    json_decref (c->manifest);
    if (c->plain) {
        sodium_memzero (c->plain, c->plain_len);
        free (c->plain);
    }
    sodium_memzero (&c->keys, sizeof (c->keys));
    memset (c, 0, sizeof (*c));
}

//  Read, decrypt and parse FILE. Any failure after the header is the one
//  message CW_BACKUP_BAD_PASSPHRASE.
static int
s_decrypt (const char *file, const char *passphrase, s_contents_t *c, char *err, size_t errlen)
{
    memset (c, 0, sizeof (*c));
    if (sodium_init () < 0) {
        cw_errorf (err, errlen, "libsodium initialisation failed");
        return -1;
    }
    size_t len = 0;
    unsigned char *data = s_read_file (file, &len, err, errlen);
    if (!data)
        return -1;
    int result = -1;
    if (len < S_HEADER_BYTES || memcmp (data, CW_BACKUP_MAGIC, 9) != 0) {
        cw_errorf (err, errlen, "%s is not a Causeway backup", file);
        goto done;
    }
    uint64_t opslimit = s_get_le (data + 10, 8), memlimit = s_get_le (data + 18, 8);
    if (data [9] != S_KDF_ARGON2ID13 || opslimit < crypto_pwhash_OPSLIMIT_MIN
        || opslimit > crypto_pwhash_OPSLIMIT_SENSITIVE || memlimit < crypto_pwhash_MEMLIMIT_MIN
        || memlimit > crypto_pwhash_MEMLIMIT_SENSITIVE) {
        cw_errorf (err, errlen, CW_BACKUP_BAD_PASSPHRASE);
        goto done;
    }
    if (s_derive (passphrase ? passphrase : "", data + 26, opslimit, memlimit, &c->keys)) {
        cw_errorf (err, errlen, "backup: key derivation failed (out of memory?)");
        goto done;
    }
    crypto_secretstream_xchacha20poly1305_state state;
    if (crypto_secretstream_xchacha20poly1305_init_pull (&state, data + 26 + crypto_pwhash_SALTBYTES, c->keys.stream)
        != 0) {
        cw_errorf (err, errlen, CW_BACKUP_BAD_PASSPHRASE);
        goto done;
    }
    c->plain = malloc (len);
    if (!c->plain) {
        cw_errorf (err, errlen, "out of memory");
        goto done;
    }
    size_t pos = S_HEADER_BYTES;
    bool final = false;
    while (pos < len && !final) {
        if (len - pos < 4) {
            cw_errorf (err, errlen, CW_BACKUP_BAD_PASSPHRASE);
            goto done;
        }
        uint64_t clen = s_get_le (data + pos, 4);
        pos += 4;
        if (clen < crypto_secretstream_xchacha20poly1305_ABYTES
            || clen > S_CHUNK + crypto_secretstream_xchacha20poly1305_ABYTES || clen > len - pos) {
            cw_errorf (err, errlen, CW_BACKUP_BAD_PASSPHRASE);
            goto done;
        }
        unsigned long long mlen = 0;
        unsigned char tag = 0;
        if (crypto_secretstream_xchacha20poly1305_pull (&state, c->plain + c->plain_len, &mlen, &tag, data + pos, clen,
                                                        data, S_HEADER_BYTES)
            != 0) {
            cw_errorf (err, errlen, CW_BACKUP_BAD_PASSPHRASE);
            goto done;
        }
        c->plain_len += mlen;
        pos += clen;
        final = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    }
    if (!final || pos != len) {
        cw_errorf (err, errlen, CW_BACKUP_BAD_PASSPHRASE);
        goto done;
    }
    //  u32 manifest length | manifest | u64 config | config | u64 cluster | cluster
    const unsigned char *p = c->plain;
    size_t left = c->plain_len;
    uint64_t mlen = left >= 4 ? s_get_le (p, 4) : UINT64_MAX;
    if (mlen > left - 4) {
        cw_errorf (err, errlen, CW_BACKUP_BAD_PASSPHRASE);
        goto done;
    }
    json_error_t jerr;
    c->manifest = json_loadb ((const char *) p + 4, mlen, 0, &jerr);
    p += 4 + mlen;
    left -= 4 + mlen;
    c->config_len = left >= 8 ? s_get_le (p, 8) : UINT64_MAX;
    if (!json_is_object (c->manifest) || c->config_len > left - 8) {
        cw_errorf (err, errlen, CW_BACKUP_BAD_PASSPHRASE);
        goto done;
    }
    c->config = p + 8;
    p += 8 + c->config_len;
    left -= 8 + c->config_len;
    c->cluster_len = left >= 8 ? s_get_le (p, 8) : UINT64_MAX;
    if (c->cluster_len != left - 8) {
        cw_errorf (err, errlen, CW_BACKUP_BAD_PASSPHRASE);
        goto done;
    }
    c->cluster = p + 8;
    json_t *version = json_object_get (c->manifest, "version");
    if (!json_is_integer (version) || json_integer_value (version) != 1) {
        cw_errorf (err, errlen, "the backup is of format version %s, this release reads 1",
                   json_is_integer (version) ? "another" : "unknown");
        goto done;
    }
    result = 0;
done:
    free (data);
    if (result)
        s_contents_free (c);
    return result;
}

json_t *
cw_backup_manifest (const char *file, const char *passphrase, char *err, size_t errlen)
{
    s_contents_t c;
    if (s_decrypt (file, passphrase, &c, err, errlen))
        return NULL;
    json_t *manifest = json_incref (c.manifest);
    s_contents_free (&c);
    return manifest;
}

// ---------------------------------------------------------------------------
//  Restore

static void
s_pending_path (sqlite3 *db, char *buf, size_t buflen)
{
    const char *config_path = sqlite3_db_filename (db, "main");
    char *copy = strdup (config_path ? config_path : ".");
    snprintf (buf, buflen, "%s/%s", copy ? dirname (copy) : ".", CW_BACKUP_PENDING_FILE);
    free (copy);
}

//  Copy both (checked) images into DB, then drop the journal PENDING.
static int
s_restore_pair (sqlite3 *db, const char *cluster_schema, sqlite3 *config, sqlite3 *cluster, const char *pending,
                char *err, size_t errlen)
{
    if (s_mem_restore (db, "main", config, err, errlen) || s_mem_restore (db, cluster_schema, cluster, err, errlen))
        return -1;
    if (unlink (pending) != 0 && errno != ENOENT) {
        cw_errorf (err, errlen, "cannot remove %s: %s", pending, strerror (errno));
        return -1;
    }
    s_fsync_dir (pending);
    return 0;
}

int
cw_backup_restore (sqlite3 *db, const char *cluster_schema, const char *file, const char *passphrase,
                   const unsigned char *node_key, json_t **manifest, char *err, size_t errlen)
{
    cluster_schema = cluster_schema ? cluster_schema : "cluster";
    if (manifest)
        *manifest = NULL;
    if (!sqlite3_get_autocommit (db)) {
        cw_errorf (err, errlen, "restore: the database is in a transaction");
        return -1;
    }
    s_contents_t c;
    if (s_decrypt (file, passphrase, &c, err, errlen))
        return -1;
    int result = -1;
    unsigned char *config_image = NULL, *cluster_image = NULL;
    sqlite3 *config = s_image_open (c.config, c.config_len, err, errlen);
    sqlite3 *cluster = config ? s_image_open (c.cluster, c.cluster_len, err, errlen) : NULL;
    if (!cluster) {
        cw_errorf (err, errlen, CW_BACKUP_BAD_PASSPHRASE);
        goto done;
    }
    //  Journal both images, then copy them in (see cw_backup_recover).
    uint64_t config_len = 0, cluster_len = 0;
    int resealed = 0;
    if (s_reseal_images (config, cluster, c.keys.secrets, node_key, &config_image, &config_len, &cluster_image,
                         &cluster_len, &resealed, err, errlen))
        goto done;
    unsigned char config_len_le [8], cluster_len_le [8], hash [32];
    s_put_le (config_len_le, config_len, 8);
    s_put_le (cluster_len_le, cluster_len, 8);
    crypto_generichash_state hs;
    crypto_generichash_init (&hs, NULL, 0, sizeof (hash));
    crypto_generichash_update (&hs, (const unsigned char *) S_PENDING_MAGIC, 10);
    crypto_generichash_update (&hs, config_len_le, 8);
    crypto_generichash_update (&hs, config_image, config_len);
    crypto_generichash_update (&hs, cluster_len_le, 8);
    crypto_generichash_update (&hs, cluster_image, cluster_len);
    crypto_generichash_final (&hs, hash, sizeof (hash));
    const unsigned char *parts [6] = {
        (const unsigned char *) S_PENDING_MAGIC, config_len_le, config_image, cluster_len_le, cluster_image, hash
    };
    size_t lens [6] = { 10, 8, config_len, 8, cluster_len, sizeof (hash) };
    char pending [4200];
    s_pending_path (db, pending, sizeof (pending));
    if (s_write_file_atomic (pending, parts, lens, 6, err, errlen)
        || s_restore_pair (db, cluster_schema, config, cluster, pending, err, errlen))
        goto done;
    cw_info ("backup: restored file=%s secrets_resealed=%d", file, resealed);
    if (manifest)
        *manifest = json_incref (c.manifest);
    result = 0;
done:
    sqlite3_free (config_image);
    sqlite3_free (cluster_image);
    sqlite3_close_v2 (config);
    sqlite3_close_v2 (cluster);
    s_contents_free (&c);
    return result;
}

int
cw_backup_recover (sqlite3 *db, const char *cluster_schema, char *err, size_t errlen)
{
    cluster_schema = cluster_schema ? cluster_schema : "cluster";
    char pending [4200];
    s_pending_path (db, pending, sizeof (pending));
    if (access (pending, F_OK) != 0)
        return 0;
    size_t len = 0;
    unsigned char *data = s_read_file (pending, &len, err, errlen);
    if (!data)
        return -1;
    int result = -1;
    sqlite3 *config = NULL, *cluster = NULL;
    unsigned char hash [32];
    uint64_t config_len = len >= 18 ? s_get_le (data + 10, 8) : UINT64_MAX;
    if (len < 10 + 8 + 8 + 32 || memcmp (data, S_PENDING_MAGIC, 10) != 0 || config_len > len - 10 - 8 - 8 - 32) {
        cw_errorf (err, errlen, "%s is damaged: restore the backup again", pending);
        goto done;
    }
    uint64_t cluster_len = s_get_le (data + 18 + config_len, 8);
    crypto_generichash (hash, sizeof (hash), data, len - 32, NULL, 0);
    if (cluster_len != len - 10 - 8 - config_len - 8 - 32 || sodium_memcmp (hash, data + len - 32, 32) != 0) {
        cw_errorf (err, errlen, "%s is damaged: restore the backup again", pending);
        goto done;
    }
    config = s_image_open (data + 18, config_len, err, errlen);
    cluster = config ? s_image_open (data + 18 + config_len + 8, cluster_len, err, errlen) : NULL;
    if (!cluster || s_restore_pair (db, cluster_schema, config, cluster, pending, err, errlen))
        goto done;
    cw_info ("backup: finished an interrupted restore path=%s", pending);
    result = 1;
done:
    sqlite3_close_v2 (config);
    sqlite3_close_v2 (cluster);
    free (data);
    return result;
}
