/*  pinning.c - trust on first use of the peers' certificates (see
    pinning.h).

    The pins live in memory (a small table, one entry per peer address)
    and in config.db's peer_pins, written with one autocommit statement
    each time an entry changes (durable: the connection runs with
    synchronous=FULL). The alarm of an outstanding refusal is raised when
    the refusal is recorded (or by the first tick of a new process for a
    refusal kept in the table), and cleared when the refusal ends: the peer is
    trusted, presents the pinned certificate again, or leaves the list.
*/
#include "pinning.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cw_alarm.h"
#include "cw_log.h"
#include "cw_text.h"

#define S_MAX 32    //  entries kept (6 peers; rows of removed peers until retain)
#define S_ADDRESS_MAX 256
#define S_TABLE "main.peer_pins"

typedef struct {
    char address [S_ADDRESS_MAX];    //  normalised; "" = free entry
    char pinned [CW_PINNING_FINGERPRINT];
    char refused [CW_PINNING_FINGERPRINT];
    int index;            //  its peer index as last seen (0 unknown)
    int64_t raised_at;    //  zclock_mono of the last raise, 0 = not raised by this process
} s_pin_t;

struct _cw_pinning_t {
    cw_actor_t *actor;
    sqlite3 *db;
    s_pin_t pins [S_MAX];
};

// ---------------------------------------------------------------------------
//  Entries and their rows

//  ADDRESS as pins are keyed: lower case, no trailing dot.
static void
s_key (const char *address, char key [S_ADDRESS_MAX])
{
    size_t len = 0;
    for (; address && address [len] && len < S_ADDRESS_MAX - 1; len++)
        key [len] = (char) tolower ((unsigned char) address [len]);
    if (len && key [len - 1] == '.')
        len--;
    key [len] = 0;
}

static s_pin_t *
s_find (cw_pinning_t *self, const char *address)
{
    char key [S_ADDRESS_MAX];
    s_key (address, key);
    if (!*key)
        return NULL;
    for (int i = 0; i < S_MAX; i++)
        if (*self->pins [i].address && strcmp (self->pins [i].address, key) == 0)
            return &self->pins [i];
    return NULL;
}

static s_pin_t *
s_add (cw_pinning_t *self, const char *address)
{
    char key [S_ADDRESS_MAX];
    s_key (address, key);
    if (!*key)
        return NULL;
    for (int i = 0; i < S_MAX; i++)
        if (!*self->pins [i].address) {
            memset (&self->pins [i], 0, sizeof self->pins [i]);
            cw_copy (self->pins [i].address, S_ADDRESS_MAX, key);
            return &self->pins [i];
        }
    return NULL;
}

//  Write PIN's row. 0, or -1 with ERR.
static int
s_save (cw_pinning_t *self, const s_pin_t *pin, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2 (self->db,
                                 "INSERT INTO " S_TABLE " (address, fingerprint, refused, changed_at)"
                                 " VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"
                                 " ON CONFLICT (address) DO UPDATE SET fingerprint = excluded.fingerprint,"
                                 " refused = excluded.refused, changed_at = excluded.changed_at",
                                 -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text (stmt, 1, pin->address, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 2, pin->pinned, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 3, pin->refused, -1, SQLITE_STATIC);
        rc = sqlite3_step (stmt) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    if (rc != SQLITE_OK)
        snprintf (err, errlen, "cannot record the certificate of %s in config.db: %s", pin->address,
                  sqlite3_errmsg (self->db));
    sqlite3_finalize (stmt);
    return rc == SQLITE_OK ? 0 : -1;
}

//  Write PIN's row; a failure is logged (the pin holds in memory until
//  the actor restarts).
static void
s_save_or_warn (cw_pinning_t *self, const s_pin_t *pin)
{
    char err [512];
    if (s_save (self, pin, err, sizeof err))
        cw_warn ("cluster: %s", err);
}

static void
s_delete (cw_pinning_t *self, const s_pin_t *pin)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (self->db, "DELETE FROM " S_TABLE " WHERE address = ?1", -1, &stmt, NULL) == SQLITE_OK) {
        sqlite3_bind_text (stmt, 1, pin->address, -1, SQLITE_STATIC);
        if (sqlite3_step (stmt) != SQLITE_DONE)
            cw_warn ("cluster: cannot forget the certificate of %s in config.db: %s", pin->address,
                     sqlite3_errmsg (self->db));
    }
    sqlite3_finalize (stmt);
}

// ---------------------------------------------------------------------------
//  The alarm

static void
s_raise (cw_pinning_t *self, s_pin_t *pin)
{
    pin->raised_at = zclock_mono ();
    if (!self->actor)
        return;
    char detail [1024], peer [64] = "";
    if (pin->index)
        snprintf (peer, sizeof peer, "peer %d ", pin->index);
    snprintf (detail, sizeof detail,
              "%s(%s) presented a certificate with SHA-256 fingerprint %s; the pinned certificate is %s. Links "
              "with it are refused until `causeway cluster trust-peer %d` accepts the new certificate",
              peer, pin->address, pin->refused, pin->pinned, pin->index);
    cw_alarm_raise (self->actor, CW_PINNING_ALARM, pin->address, detail);
}

static void
s_clear (cw_pinning_t *self, s_pin_t *pin)
{
    pin->refused [0] = 0;
    pin->raised_at = 0;
    if (self->actor)
        cw_alarm_clear (self->actor, CW_PINNING_ALARM, pin->address);
}

// ---------------------------------------------------------------------------
//  API

int
cw_pinning_check (cw_pinning_t *self, int index, const char *address, const char *fingerprint, bool verified,
                  char *reason, size_t size)
{
    if (!fingerprint || strlen (fingerprint) != CW_PINNING_FINGERPRINT - 1) {
        snprintf (reason, size, "peer %d (%s) presented no certificate; certificates are pinned", index, address);
        return -1;
    }
    s_pin_t *pin = s_find (self, address);
    if (!pin) {
        pin = s_add (self, address);
        if (!pin) {
            snprintf (reason, size, "no room to pin the certificate of peer %d (%s)", index, address);
            return -1;
        }
    }
    pin->index = index;
    if (!*pin->pinned || (verified && strcmp (pin->pinned, fingerprint) != 0)) {
        //  First use, or enforce mode: the CA vouches for this one
        if (*pin->pinned)
            cw_info ("cluster: certificate of peer %d (%s) renewed, verified by the CA: pinned sha256=%s (was %s)",
                     index, pin->address, fingerprint, pin->pinned);
        else
            cw_info ("cluster: certificate of peer %d (%s) pinned on first use sha256=%s", index, pin->address,
                     fingerprint);
        cw_copy (pin->pinned, sizeof pin->pinned, fingerprint);
        if (*pin->refused)
            s_clear (self, pin);
        s_save_or_warn (self, pin);
        return 0;
    }
    if (strcmp (pin->pinned, fingerprint) == 0) {
        if (*pin->refused) {
            cw_info ("cluster: peer %d (%s) presents its pinned certificate again", index, pin->address);
            s_clear (self, pin);
            s_save_or_warn (self, pin);
        }
        return 0;
    }
    snprintf (reason, size,
              "certificate of peer %d (%s) changed: it presented SHA-256 %s, the pinned one is %s; "
              "accept it with `causeway cluster trust-peer %d`",
              index, pin->address, fingerprint, pin->pinned, index);
    if (strcmp (pin->refused, fingerprint) != 0) {
        cw_warn ("cluster: refused peer %d (%s): certificate changed sha256=%s pinned=%s", index, pin->address,
                 fingerprint, pin->pinned);
        cw_copy (pin->refused, sizeof pin->refused, fingerprint);
        s_save_or_warn (self, pin);
        s_raise (self, pin);
    }
    else if (!pin->raised_at)
        s_raise (self, pin);
    return -1;
}

int
cw_pinning_trust (cw_pinning_t *self, int index, const char *address, char *fingerprint, char *previous, char *err,
                  size_t errlen)
{
    s_pin_t *pin = s_find (self, address);
    if (!pin || !*pin->refused) {
        if (pin && *pin->pinned)
            snprintf (err, errlen,
                      "peer %d (%s) has presented no certificate other than its pinned one (SHA-256 %s): nothing to "
                      "accept",
                      index, address, pin->pinned);
        else
            snprintf (err, errlen, "peer %d (%s) has not linked yet: its certificate is pinned when it first does",
                      index, address);
        return -1;
    }
    s_pin_t updated = *pin;
    cw_copy (updated.pinned, sizeof updated.pinned, pin->refused);
    updated.refused [0] = 0;
    if (s_save (self, &updated, err, errlen))
        return -1;
    if (previous)
        cw_copy (previous, CW_PINNING_FINGERPRINT, pin->pinned);
    cw_copy (pin->pinned, sizeof pin->pinned, updated.pinned);
    pin->index = index;
    s_clear (self, pin);
    if (fingerprint)
        cw_copy (fingerprint, CW_PINNING_FINGERPRINT, pin->pinned);
    cw_warn ("cluster: an administrator accepted the new certificate of peer %d (%s) sha256=%s", index, pin->address,
             pin->pinned);
    return 0;
}

const char *
cw_pinning_pinned (cw_pinning_t *self, const char *address)
{
    s_pin_t *pin = s_find (self, address);
    return pin ? pin->pinned : "";
}

const char *
cw_pinning_refused (cw_pinning_t *self, const char *address)
{
    s_pin_t *pin = s_find (self, address);
    return pin ? pin->refused : "";
}

void
cw_pinning_retain (cw_pinning_t *self, const char (*peers) [256], int count)
{
    for (int i = 0; i < S_MAX; i++) {
        s_pin_t *pin = &self->pins [i];
        if (!*pin->address)
            continue;
        int index = 0;
        for (int p = 0; p < count && !index; p++) {
            char key [S_ADDRESS_MAX];
            s_key (peers [p], key);
            if (strcmp (key, pin->address) == 0)
                index = p + 1;
        }
        if (index) {
            pin->index = index;
            continue;
        }
        cw_info ("cluster: %s is no longer a peer: its pinned certificate is forgotten", pin->address);
        if (*pin->refused)
            s_clear (self, pin);
        s_delete (self, pin);
        pin->address [0] = 0;
    }
}

void
cw_pinning_tick (cw_pinning_t *self)
{
    for (int i = 0; i < S_MAX; i++) {
        s_pin_t *pin = &self->pins [i];
        if (*pin->address && *pin->refused && pin->index && !pin->raised_at)
            s_raise (self, pin);
    }
}

// ---------------------------------------------------------------------------
//  Life cycle

cw_pinning_t *
cw_pinning_new (cw_actor_t *actor, sqlite3 *db, char *err, size_t errlen)
{
    char *message = NULL;
    if (sqlite3_exec (db,
                      "CREATE TABLE IF NOT EXISTS " S_TABLE " ("
                      " address TEXT PRIMARY KEY, fingerprint TEXT NOT NULL,"
                      " refused TEXT NOT NULL DEFAULT '', changed_at TEXT NOT NULL);",
                      NULL, NULL, &message)
        != SQLITE_OK) {
        snprintf (err, errlen, "cannot create the table of pinned certificates in config.db: %s",
                  message ? message : sqlite3_errmsg (db));
        sqlite3_free (message);
        return NULL;
    }
    cw_pinning_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->actor = actor;
    self->db = db;
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (db, "SELECT address, fingerprint, refused FROM " S_TABLE, -1, &stmt, NULL) != SQLITE_OK) {
        snprintf (err, errlen, "cannot read the pinned certificates in config.db: %s", sqlite3_errmsg (db));
        free (self);
        return NULL;
    }
    while (sqlite3_step (stmt) == SQLITE_ROW) {
        s_pin_t *pin = s_add (self, (const char *) sqlite3_column_text (stmt, 0));
        if (!pin)
            break;
        cw_copy (pin->pinned, sizeof pin->pinned, (const char *) sqlite3_column_text (stmt, 1));
        cw_copy (pin->refused, sizeof pin->refused, (const char *) sqlite3_column_text (stmt, 2));
    }
    sqlite3_finalize (stmt);
    return self;
}

void
cw_pinning_destroy (cw_pinning_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}
