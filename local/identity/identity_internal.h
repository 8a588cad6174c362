/*
 * identity_internal.h - private to local/identity: the entity tables, the service struct and
 * helpers shared by its files.
 */
#ifndef IDENTITY_INTERNAL_H
#define IDENTITY_INTERNAL_H

#include <pthread.h>
#include <stddef.h>

#include "local_identity.h"
#include "nph_crypto.h"

enum ident_col_type {
    COL_STR,     /* text */
    COL_NSTR,    /* text where '' or NULL renders as JSON null */
    COL_BOOL,    /* INTEGER 0/1 */
    COL_TAGS,    /* JSON array of strings stored as text */
    COL_TIME,    /* BIGINT microseconds, rendered ISO 8601 without zone (Keystone's app creds) */
    COL_JSONARR, /* JSON array stored as text */
};

enum {
    COLF_REQUIRED = 1,  /* must be given on create */
    COLF_IMMUTABLE = 2, /* cannot be updated */
    COLF_FILTER = 4,    /* may be used as a list filter */
    COLF_NOUPDATE_NULL = 8,
};

struct ident_col {
    const char *name;
    enum ident_col_type type;
    unsigned flags;
    size_t max_len;  /* strings: bytes; 0 = IDENT_NAME_MAX */
    const char *def; /* default on create (text form), NULL = SQL NULL */
};

struct ident_entity {
    enum ident_kind kind;
    const char *name, *plural, *table;
    const struct ident_col *cols; /* the first is always "id" */
    size_t n_cols;
    int id_settable; /* the caller may choose the id (regions) */
    int has_extra;   /* unknown attributes are kept in column "extra" */
};

const struct ident_entity *ident_entity(enum ident_kind kind);

#define IDENT_MAX_KEYS 64

struct ident_key {
    int index;
    uint8_t key[NPH_AEAD_KEY_LEN];
    uint8_t kid[4]; /* first bytes of SHA-256(key): picks the key without trial decryption */
};

/* Revocation events held in memory: key ("a:<audit>", "u:<user>", "up:<user>|<project>",
 * "p:<project>") -> the latest issued_before. Reloaded from the store at most once per
 * IDENT_REVOCATION_REFRESH_US, and at once after a revocation made by this process. */
#define IDENT_REVOCATION_REFRESH_US (1000 * 1000)

struct ident_revcache {
    char **keys; /* open addressing, NULL = empty slot */
    int64_t *vals;
    size_t cap; /* power of two */
    size_t n;
};

/* Recently validated tokens: decrypting and parsing is skipped for a token seen before (the
 * common case: a client reuses its token), expiry and revocation are still checked on every
 * use. Direct-mapped by hash; flushed when the key repository changes. */
#define IDENT_TOKEN_CACHE_SLOTS 512

struct ident_token_slot {
    uint64_t hash;
    char *token;           /* malloc'd, NULL = empty */
    struct ident_token *t; /* malloc'd */
};

struct local_identity {
    struct nph_store *store;
    struct local_identity_opts opts;
    pthread_rwlock_t keys_lock;
    struct ident_key keys[IDENT_MAX_KEYS];
    int n_keys;
    int primary;               /* position in keys[] of the primary key */
    int64_t keys_checked_mono; /* last time the repository's mtime was looked at */
    int64_t keys_mtime;
    pthread_rwlock_t cache_lock;
    struct ident_token_slot cache[IDENT_TOKEN_CACHE_SLOTS];
    pthread_rwlock_t rev_lock;
    struct ident_revcache rev;
    int64_t rev_loaded_mono;
    int rev_stale;    /* guarded by rev_lock */
    char *dummy_hash; /* verified against for unknown users, so they take as long as known ones */
};

/* Load (or reload if the repository changed) the token keys. */
int ident_keys_load(struct local_identity *li, int force, struct nph_error *err);

/* NPH_E_INVALID if `password` is one of the user's last unique_last_password_count ones. */
int ident_check_password_history(struct local_identity *li, struct nph_db *db, const char *user_id,
                                 const char *password, struct nph_error *err);

/* Make the next validation reload the revocation events (call after committing one). */
void ident_revocations_changed(struct local_identity *li);
void ident_revcache_free(struct ident_revcache *rc);
/* Empty the validated-token cache. */
void ident_token_cache_flush(struct local_identity *li);

/* Insert a revocation event; NULL fields match anything. */
int ident_revoke_event(struct nph_db *db, const char *audit_id, const char *user_id,
                       const char *project_id, int64_t expires_at, struct nph_error *err);

/* Render the current row of `st` (selected as the entity's columns + extra) as an object. */
json_t *ident_row_to_json(const struct ident_entity *e, struct nph_stmt *st);
/* Step `st` to the end, rendering each row; a new array, or NULL with err set. */
json_t *ident_collect_rows(const struct ident_entity *e, struct nph_stmt *st,
                           struct nph_error *err);
/* "SELECT id, name, ... , extra FROM table" into buf. */
void ident_select_sql(const struct ident_entity *e, char *buf, size_t len);

/* Roles implied by a set of role ids (admin -> member -> reader): fills out with unique ids and
 * names (resolved), up to IDENT_MAX_ROLES. */
int ident_expand_roles(struct nph_db *db, const char *const *role_ids, int n,
                       struct ident_role_ref *out, int *n_out, struct nph_error *err);

/* Acquire a connection or fail with the store's error. */
struct nph_db *ident_db(struct local_identity *li, struct nph_error *err);

#endif
