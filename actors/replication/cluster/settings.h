/*  settings.h - the clustering settings: the five peer-scope keys
    cluster.name, .primary, .ip_version, .tls_verify and .peers, read from
    and written to the configuration store, carried as JSON between peers,
    and the rule by which a node finds its own slot in the peer list.

    Pure functions over a cw_cluster_settings_t (cluster_view.h) and the
    configuration store; no cluster core, no sockets. The settings IN
    EFFECT are the core's business (they change at a restart); here is
    only what is STORED and how settings are compared and named.

    Addresses. A peer is named by its configured address: an IP literal
    or an FQDN. Two addresses are the same when their IP literals are
    equal in canonical form, or their names are equal regardless of case
    and of a trailing dot. A node's own slot is the one whose address is,
    or resolves (address mapping first, then DNS; as the peer links do) to,
    its bootstrap peering.address.
*/
#ifndef CW_SETTINGS_H
#define CW_SETTINGS_H

#include <jansson.h>
#include <stdbool.h>
#include "cluster_view.h"
#include "config_store.h"
#include "peerlink.h"

#define CW_MAPPING_MAX 12

//  The address mapping in effect: the "fqdn=ip" entries of
//  cluster.address_mapping when cluster.address_mapping.enabled is on.
//  ITEMS point into TEXTS of the same struct: use it where it was filled
//  (a copy's ITEMS still point into the original).
typedef struct {
    cw_peerlink_mapping_t items [CW_MAPPING_MAX];
    char texts [CW_MAPPING_MAX][2][256];
    int count;
} cw_mapping_t;

//  The clustering settings as stored now (what the next restart applies).
void cw_settings_stored (cw_config_store_t *store, cw_cluster_settings_t *out);
//  S as JSON {"name","primary","ip_version","tls_verify","peers"} (new);
//  an unset ip_version is 4 and an unset tls_verify "permissive".
json_t *cw_settings_json (const cw_cluster_settings_t *s);
//  S's peer list as a JSON array of strings (new).
json_t *cw_settings_peers_json (const cw_cluster_settings_t *s);
//  OUT from JSON as cw_settings_json writes it (missing fields empty).
void cw_settings_from_json (json_t *json, cw_cluster_settings_t *out);
//  Check the five keys of S as the registry would; 0, or -1 with ERR.
int cw_settings_check (const cw_cluster_settings_t *s, char *err, size_t errlen);
//  Store the five keys of S on this node (all checked first, then all
//  written). 0, or -1 with ERR.
int cw_settings_store (cw_config_store_t *store, const cw_cluster_settings_t *s, char *err, size_t errlen);

//  Same address? (see above)
bool cw_settings_same_address (const char *a, const char *b);
//  Index (1..) of ADDRESS in S, 0 when not there.
int cw_settings_index_of (const cw_cluster_settings_t *s, const char *address);
//  The address of slot INDEX (1..) of S, "?" out of range.
const char *cw_settings_address (const cw_cluster_settings_t *s, int index);
//  Remove slot INDEX (1..) of S, closing the gap; the primary index
//  follows its peer when it moves up.
void cw_settings_remove_slot (cw_cluster_settings_t *s, int index);
//  True when AFTER is BEFORE with one or more slots removed and the gap
//  closed (the remaining addresses in the same order), the same cluster
//  name, IP version and TLS mode, and a primary index that names a slot
//  of AFTER: the guide's removal of a peer, which takes effect live.
bool cw_settings_only_removed (const cw_cluster_settings_t *before, const cw_cluster_settings_t *after);

//  Load the address mapping in effect from STORE into OUT.
void cw_settings_mapping (cw_config_store_t *store, cw_mapping_t *out);
//  The slot of S whose address is, or resolves to, PEERING_ADDRESS;
//  0 when none (or PEERING_ADDRESS is empty).
int cw_settings_own_index (const cw_cluster_settings_t *s, const char *peering_address, const cw_mapping_t *mapping);

#endif
