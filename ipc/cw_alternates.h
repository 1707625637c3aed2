/*  cw_alternates.h - the document of GET /alternatesconfiguration.xml:
    the configuration a cluster's peers must share, as XML a manager (or
    `causeway tms diff`) compares peer by peer.

    Served by the web admin actor (actors/webadmin/alternates.h) or, when
    no web admin runs on the peer, by the tms actor's fallback listener
    (actors/tms/alternates_listener.h): both use this builder, so the bytes
    are the same either way. Made from two replies asked at once through
    the broker: config.list (only the keys of scope cluster: peer-scope
    keys are each peer's own) and cluster.status (the cluster's settings,
    the peer list, which peer is this system). The document is
    deterministic: keys sorted, one element per line, no time stamps or
    counters, so two peers with the same configuration serve the same lines
    except the two per-peer elements at its end:

      <?xml version="1.0" encoding="UTF-8"?>
      <AlternatesConfiguration version="1">
        <Cluster>
          <Name>cluster1.example.com</Name>
          <PrimaryIndex>1</PrimaryIndex>
          <IpVersion>4</IpVersion>
          <TlsVerify>permissive</TlsVerify>
          <Peers>
            <Peer index="1">127.0.1.1</Peer>
          </Peers>
        </Cluster>
        <Configuration>
          <Key name="h323.mode">on</Key>
        </Configuration>
        <ThisSystem index="2">127.0.1.2</ThisSystem>
        <Alternates>
          <Alternate index="1">127.0.1.1</Alternate>
        </Alternates>
      </AlternatesConfiguration>

    A value is its text: a string bare, a number in decimal, true/false,
    a list or object as compact JSON with sorted keys, null empty; a sealed
    secret is <Key name="..." sealed="true"/> (its ciphertext differs on
    every peer and is never shown). Text and attributes are XML-escaped.
    Not in a cluster: the Cluster element has no Peers, ThisSystem and
    Alternates are empty elements.
*/
#ifndef CW_ALTERNATES_H
#define CW_ALTERNATES_H

#include <jansson.h>

//  The document for CONFIG (config.list's reply) and CLUSTER
//  (cluster.status's reply). A new string the caller frees; NULL out of
//  memory.
char *cw_alternates_xml (json_t *config, json_t *cluster);

#endif
