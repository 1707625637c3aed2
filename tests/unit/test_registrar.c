/*  test_registrar.c - unit tests of the registrar's pure parts
    (actors/routing/registrar.c): Contact header parsing (name-addr and
    addr-spec, lists, parameters of SIP outbound, malformed values), the
    rules of Contact: *, the expiry granted (423 below the minimum, cut to
    the maximum, the default), the AOR's normal form, the served domains,
    the license kind by User-Agent and Call-ID/CSeq ordering.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registrar.h"

static void
test_contact_forms (void **state)
{
    (void) state;
    cw_reg_contact_t c [CW_REGISTRAR_CONTACTS_MAX];
    size_t count = 0;
    assert_int_equal (cw_registrar_contacts_parse ("<sip:alice@192.0.2.1:5060;transport=tcp>;expires=60", c,
                                                   CW_REGISTRAR_CONTACTS_MAX, &count),
                      0);
    assert_int_equal (count, 1);
    assert_false (c [0].star);
    //  URI parameters stay in the URI; header parameters are read
    assert_string_equal (c [0].uri, "sip:alice@192.0.2.1:5060;transport=tcp");
    assert_int_equal (c [0].expires, 60);
    assert_string_equal (c [0].instance, "");
    assert_int_equal (c [0].reg_id, 0);

    //  addr-spec: the parameters after the URI are the contact's
    count = 0;
    assert_int_equal (cw_registrar_contacts_parse ("sip:bob@192.0.2.2;expires=0", c, 4, &count), 0);
    assert_string_equal (c [0].uri, "sip:bob@192.0.2.2");
    assert_int_equal (c [0].expires, 0);

    //  A display name (quoted, with a comma and a '<' inside), outbound
    //  parameters, a q-value ignored, and a second contact in the list
    count = 0;
    assert_int_equal (cw_registrar_contacts_parse (
                          "\"Alice, <home>\" <sip:alice@192.0.2.1;ob>;q=0.7;+sip.instance=\"<urn:uuid:00000000-0000-"
                          "1000-8000-000A95A0E128>\";reg-id=2 ,  Bob <sip:bob@198.51.100.7>",
                          c, 4, &count),
                      0);
    assert_int_equal (count, 2);
    assert_string_equal (c [0].uri, "sip:alice@192.0.2.1;ob");
    assert_string_equal (c [0].instance, "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>");
    assert_int_equal (c [0].reg_id, 2);
    assert_int_equal (c [0].expires, -1);
    assert_string_equal (c [1].uri, "sip:bob@198.51.100.7");

    //  Several headers add up
    assert_int_equal (cw_registrar_contacts_parse ("<sip:carol@192.0.2.3>", c, 4, &count), 0);
    assert_int_equal (count, 3);
    assert_int_equal (cw_registrar_contacts_parse ("<sip:dave@192.0.2.4>, <sip:erin@192.0.2.5>", c, 4, &count), -1);

    count = 0;
    assert_int_equal (cw_registrar_contacts_parse ("  *  ", c, 4, &count), 0);
    assert_int_equal (count, 1);
    assert_true (c [0].star);
}

static void
test_contact_malformed (void **state)
{
    (void) state;
    const char *bad [] = {
        "",
        "   ",
        "<sip:alice@192.0.2.1",             //  no '>'
        "\"Alice <sip:alice@192.0.2.1>",    //  unterminated display name
        "<>",                               //  no URI
        "<alice>",                          //  not a URI
        "<sip:a@b>;expires=soon",           //  not a number
        "<sip:a@b>;expires=12345678901",    //  too large
        "<sip:a@b>;reg-id=0",               //  reg-id is 1 or more
        "<sip:a@b>;reg-id=x",
        "<sip:a@b>;+sip.instance=\"<urn:uuid:1>",    //  unterminated
        "<sip:a@b>;=5",                              //  no name
        "<sip:a@b> junk",                            //  garbage after
        "<sip:a@b>,",                                //  empty item
        "<sip:a@b>,,<sip:c@d>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        cw_reg_contact_t c [4];
        size_t count = 0;
        if (cw_registrar_contacts_parse (bad [i], c, 4, &count) != -1)
            fail_msg ("accepted: %s", bad [i]);
    }
    cw_reg_contact_t c [4];
    size_t count = 0;
    assert_int_equal (cw_registrar_contacts_parse (NULL, c, 4, &count), -1);
    //  An instance value too long for the binding
    char longer [400];
    snprintf (longer, sizeof longer, "<sip:a@b>;+sip.instance=\"<urn:uuid:%0200d>\"", 1);
    count = 0;
    assert_int_equal (cw_registrar_contacts_parse (longer, c, 4, &count), -1);
}

static void
test_star_rules (void **state)
{
    (void) state;
    cw_reg_contact_t c [4];
    size_t count = 0;
    char why [200];
    assert_int_equal (cw_registrar_contacts_parse ("*", c, 4, &count), 0);
    assert_int_equal (cw_registrar_check_star (c, count, 0, why, sizeof why), 0);
    assert_int_equal (cw_registrar_check_star (c, count, -1, why, sizeof why), -1);
    assert_non_null (strstr (why, "Expires: 0"));
    assert_int_equal (cw_registrar_check_star (c, count, 3600, why, sizeof why), -1);
    assert_int_equal (cw_registrar_contacts_parse ("<sip:a@192.0.2.1>", c, 4, &count), 0);
    assert_int_equal (cw_registrar_check_star (c, count, 0, why, sizeof why), -1);
    assert_non_null (strstr (why, "only contact"));
    //  Without a star, nothing to say
    count = 0;
    assert_int_equal (cw_registrar_contacts_parse ("<sip:a@192.0.2.1>", c, 4, &count), 0);
    assert_int_equal (cw_registrar_check_star (c, count, -1, why, sizeof why), 0);
}

static void
test_expiry (void **state)
{
    (void) state;
    //  contact parameter, then Expires header, then the default
    assert_int_equal (cw_registrar_expiry (120, 600, 60, 3600, 3600), 120);
    assert_int_equal (cw_registrar_expiry (-1, 600, 60, 3600, 3600), 600);
    assert_int_equal (cw_registrar_expiry (-1, -1, 60, 3600, 1800), 1800);
    //  0 removes, whatever the minimum
    assert_int_equal (cw_registrar_expiry (0, 600, 60, 3600, 3600), 0);
    assert_int_equal (cw_registrar_expiry (-1, 0, 60, 3600, 3600), 0);
    //  Too brief: 423
    assert_int_equal (cw_registrar_expiry (59, -1, 60, 3600, 3600), -1);
    assert_int_equal (cw_registrar_expiry (-1, 1, 60, 3600, 3600), -1);
    assert_int_equal (cw_registrar_expiry (60, -1, 60, 3600, 3600), 60);
    //  Too long: cut
    assert_int_equal (cw_registrar_expiry (7200, -1, 60, 3600, 3600), 3600);
    //  A default outside the bounds is brought inside, never refused
    assert_int_equal (cw_registrar_expiry (-1, -1, 60, 3600, 7200), 3600);
    assert_int_equal (cw_registrar_expiry (-1, -1, 600, 3600, 300), 600);
    //  A maximum below the minimum: the minimum wins
    assert_int_equal (cw_registrar_expiry (900, -1, 600, 300, 3600), 600);
}

static void
test_aor_and_domains (void **state)
{
    (void) state;
    char aor [CW_LOCATION_AOR_MAX];
    assert_int_equal (cw_registrar_aor ("Alice", "Example.COM", aor, sizeof aor), 0);
    assert_string_equal (aor, "sip:Alice@example.com");
    assert_int_equal (cw_registrar_aor ("", "example.com", aor, sizeof aor), 0);
    assert_string_equal (aor, "sip:example.com");
    assert_int_equal (cw_registrar_aor ("alice", "", aor, sizeof aor), -1);
    char small [16];
    assert_int_equal (cw_registrar_aor ("alice", "example.com", small, sizeof small), -1);

    json_t *domains = json_pack ("[s, s]", "example.com", "corp.example.net");
    assert_true (cw_registrar_domain_served (domains, "other.org", "EXAMPLE.com"));
    assert_true (cw_registrar_domain_served (domains, NULL, "corp.example.net"));
    assert_false (cw_registrar_domain_served (domains, "other.org", "other.org"));
    assert_false (cw_registrar_domain_served (domains, NULL, ""));
    json_decref (domains);
    json_t *none = json_array ();
    //  No list: the peer's own domain, or every domain without one
    assert_true (cw_registrar_domain_served (none, "other.org", "Other.org"));
    assert_false (cw_registrar_domain_served (none, "other.org", "example.com"));
    assert_true (cw_registrar_domain_served (none, "", "example.com"));
    assert_true (cw_registrar_domain_served (NULL, NULL, "example.com"));
    json_decref (none);
}

static void
test_license_kind_and_order (void **state)
{
    (void) state;
    json_t *patterns = json_pack ("[s, s]", "Cisco/TelePresence*", "*Room Kit*");
    assert_string_equal (cw_registrar_license_kind (patterns, "cisco/telepresence SX80"), "room_systems");
    assert_string_equal (cw_registrar_license_kind (patterns, "TANDBERG Room Kit Plus"), "room_systems");
    assert_string_equal (cw_registrar_license_kind (patterns, "baresip v1.0.0"), "desktop_systems");
    assert_string_equal (cw_registrar_license_kind (patterns, NULL), "desktop_systems");
    json_decref (patterns);
    assert_string_equal (cw_registrar_license_kind (NULL, "Cisco/TelePresence"), "desktop_systems");

    //  Another Call-ID: any CSeq; the same Call-ID: never backwards
    assert_true (cw_registrar_in_order ("a@h", 5, "b@h", 1));
    assert_true (cw_registrar_in_order ("a@h", 5, "a@h", 6));
    assert_true (cw_registrar_in_order ("a@h", 5, "a@h", 5));
    assert_false (cw_registrar_in_order ("a@h", 5, "a@h", 4));
    assert_true (cw_registrar_in_order ("", 0, "a@h", 1));
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_contact_forms),   cmocka_unit_test (test_contact_malformed),
        cmocka_unit_test (test_star_rules),      cmocka_unit_test (test_expiry),
        cmocka_unit_test (test_aor_and_domains), cmocka_unit_test (test_license_kind_and_order),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
