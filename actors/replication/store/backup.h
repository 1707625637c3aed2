/*  backup.h - encrypted backups of a node's configuration, and secrets at
    rest (libsodium).

    SECRETS AT REST. A configuration value of type secret is stored as
    "sealed:<base64 (nonce | crypto_secretbox_easy (plaintext))>" (in the
    JSON text of the value: "\"sealed:...\""). The key is the per-node file
    <state_dir>/secret.key: 32 random bytes, created 0600 on first use. That
    file is the ROOT OF TRUST of the node: whoever reads it (and config.db)
    reads every secret; losing it loses every secret. It is never
    replicated, never logged, never put in a backup. A key file readable by
    group or others is refused.
    Cluster-scope secrets: a value sealed with one node's key cannot be
    opened on another node, so a cluster-scope secret must be sealed with a
    key every peer shares (a cluster key handed over at join over the peer
    TLS link); that is the clustering actor's job: these calls take the key
    explicitly so they serve both.

    BACKUPS. One file holds images of both databases (config.db and
    cluster.db, page-for-page copies taken in one read transaction) and a
    JSON manifest {"format": "causeway-backup", "version": 1, "node_name",
    "created_at", "applied_seq", "cluster_id", "software_version",
    "config_db_bytes", "cluster_db_bytes", "secrets_resealed"}. File layout:

        "CWBACKUP1"  u8 kdf (1 = argon2id13)  u64le opslimit  u64le memlimit
        salt [16]  secretstream header [24]                (66-byte header)
        then messages: u32le length | crypto_secretstream_xchacha20poly1305
        ciphertext of <= 64 KiB of plaintext, the header as associated data
        on each, the last one tagged FINAL (anything after it is refused)

    The plaintext is u32le manifest length | manifest | u64le config image
    length | config image | u64le cluster image length | cluster image. The
    key comes from the passphrase through crypto_pwhash (argon2id,
    OPSLIMIT/MEMLIMIT_INTERACTIVE, random salt); two subkeys are derived
    from it (crypto_kdf): one for the stream, one for secrets. Secrets in
    the backup are RE-SEALED with the passphrase's secret subkey (opened
    with the node key at backup time), so a backup restores on a new node
    (another secret.key) and never carries anything the node key opens;
    restore re-seals them with the restoring node's key. The file is
    written as FILE.tmp, fsync, rename, mode 0600.

    Restore decrypts and checks everything in memory first (wrong
    passphrase or any damage: "wrong passphrase or corrupted backup"), then
    writes both images to <state_dir>/restore.pending (fsync, rename) and
    copies them into config.db and cluster.db (one transaction each),
    then removes restore.pending. A crash in between leaves
    restore.pending: cw_backup_recover, called at startup before anything
    reads the databases, finishes the restore. So after a kill -9 the two
    databases are both the old ones or both the restored ones.
*/
#ifndef CW_BACKUP_H
#define CW_BACKUP_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#define CW_SECRET_KEY_FILE "secret.key"
#define CW_SECRET_KEY_BYTES 32
#define CW_SECRET_PREFIX "sealed:"
#define CW_BACKUP_MAGIC "CWBACKUP1"
#define CW_BACKUP_PENDING_FILE "restore.pending"
#define CW_BACKUP_BAD_PASSPHRASE "wrong passphrase or corrupted backup"

// ---------------------------------------------------------------------------
//  Secrets at rest

//  Load STATE_DIR/secret.key into KEY, creating it (0600, random) when
//  missing. 0 or -1 with ERR (also for a key file of the wrong size or
//  readable by group/others).
int cw_secret_key_load (const char *state_dir, unsigned char key [CW_SECRET_KEY_BYTES], char *err, size_t errlen);

//  "sealed:<base64>" of PLAINTEXT under KEY (fresh random nonce each
//  time). Caller frees. NULL only when out of memory.
char *cw_secret_seal (const unsigned char key [CW_SECRET_KEY_BYTES], const char *plaintext);

//  The plaintext of SEALED (caller frees; wipe with sodium_memzero before
//  free if it matters), or NULL with ERR when it is not sealed, damaged,
//  or sealed with another key.
char *cw_secret_open (const unsigned char key [CW_SECRET_KEY_BYTES], const char *sealed, char *err, size_t errlen);

//  True when VALUE starts with "sealed:" (also inside a JSON string).
bool cw_secret_is_sealed (const char *value);

// ---------------------------------------------------------------------------
//  Backups

//  Write an encrypted backup of DB's main (config.db) and CLUSTER_SCHEMA
//  (NULL = "cluster") to FILE (mode 0600). NODE_NAME goes into the
//  manifest. NODE_KEY (may be NULL: secrets are then copied as they are)
//  opens the sealed values, which are re-sealed with the passphrase.
//  DB must not be in a transaction. 0 or -1 with ERR.
int cw_backup_create (sqlite3 *db, const char *cluster_schema, const char *file, const char *passphrase,
                      const char *node_name, const unsigned char *node_key, char *err, size_t errlen);

//  Decrypt and check FILE, then replace DB's main and CLUSTER_SCHEMA
//  databases with its images, both or neither (see above). Secrets are
//  re-sealed with NODE_KEY (may be NULL: left sealed with the passphrase
//  key). *MANIFEST (may be NULL) gets the manifest (new reference). DB
//  must not be in a transaction. 0 or -1 with ERR; a wrong passphrase or
//  any damage gives CW_BACKUP_BAD_PASSPHRASE and changes nothing.
int cw_backup_restore (sqlite3 *db, const char *cluster_schema, const char *file, const char *passphrase,
                       const unsigned char *node_key, json_t **manifest, char *err, size_t errlen);

//  Read only the manifest of FILE (decrypting it). NULL with ERR.
json_t *cw_backup_manifest (const char *file, const char *passphrase, char *err, size_t errlen);

//  At startup: finish a restore interrupted by a crash (restore.pending
//  next to DB's config.db). Returns 1 if one was finished, 0 if there was
//  none, -1 with ERR.
int cw_backup_recover (sqlite3 *db, const char *cluster_schema, char *err, size_t errlen);

#endif
