/*  effective.h - the clustering settings IN EFFECT: which settings this
    start of the node runs with, and the factory reset that a cleared peer
    list performs at a node restart.

    causewayd gives every actor it spawns the id of its own start
    (CAUSEWAY_BOOT_ID; a random id when the actor is run by hand). The
    settings in effect are saved with that id in config.db (table
    cluster_effective). When the replication actor alone restarts (a
    crash), the boot id is the same and the saved settings stay in effect;
    after `causeway restart` (a new boot id) the stored settings become the
    settings in effect. When they changed from a peer list to an empty one,
    that restart performs the factory reset: keeps LAN basics, accounts and
    option keys; removes the clustering settings, the cluster-wide
    configuration, and the server certificate, private key and CA trust
    store.

    Functions of the configuration store and the bootstrap file; no
    cluster core, no sockets.
*/
#ifndef CW_EFFECTIVE_H
#define CW_EFFECTIVE_H

#include <stdbool.h>
#include "cluster_view.h"
#include "config_store.h"
#include "cw_bootstrap.h"

//  Decide the settings in effect for this start into OUT, and this
//  start's id into BOOT_ID (64 bytes). Performs a pending factory reset
//  (*FACTORY_RESET_DONE true then). 0, or -1 with ERR.
int cw_effective_load (cw_config_store_t *store, const cw_bootstrap_t *boot, char *boot_id, cw_cluster_settings_t *out,
                       bool *factory_reset_done, char *err, size_t errlen);
//  Save S as the settings in effect of start BOOT_ID (after a live change).
void cw_effective_save (cw_config_store_t *store, const char *boot_id, const cw_cluster_settings_t *s);

#endif
