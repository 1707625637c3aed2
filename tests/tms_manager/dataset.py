"""dataset.py - the provisioning data the test manager serves, generated.

Every row is computed from its number, so the manager holds no copy of the
initial data (100,000 users and FindMe accounts, 2,000,000 phone book
entries by default) and a test or benchmark can compute what a peer must
serve without asking the manager. Changes made later (edits, deletions)
are kept by the manager on top of these rows, with higher revisions.

Row shapes (the JSON the manager sends; "rev" is unique and increasing
within a service, "deleted": true marks a removed row):

    users      {"id", "rev", "username", "display_name", "email", "aliases": [...]}
    findme     {"id", "rev", "user", "alias", "active_location",
                "locations": [{"name", "devices": [alias, ...]}, ...]}
    phonebooks {"id", "rev", "book", "name", "uri", "number"}
    templates  {"id", "rev", "name", "device_type", "body"}
"""

SERVICES = ("users", "findme", "phonebooks", "templates")
DOMAIN = "example.com"

FIRST = ("Aiko", "Ben", "Chiara", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
         "Kofi", "Lena", "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Sven", "Tariq",
         "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoe")
LAST = ("Andersen", "Brown", "Costa", "Dubois", "Eriksson", "Fischer", "Garcia", "Hansen", "Ito",
        "Jensen", "Kowalski", "Larsen", "Martin", "Nakamura", "Olsen", "Petrov", "Quinn", "Rossi",
        "Schmidt", "Tanaka", "Ueda", "Varga", "Weber", "Xu", "Yamada", "Zhang")
BOOKS = ("Corporate", "Sales", "Engineering", "Support", "Partners", "Suppliers", "Executives", "Rooms")


def counts(users=100_000, entries=2_000_000, templates=50):
    """The number of rows per service."""
    return {"users": users, "findme": users, "phonebooks": entries, "templates": templates}


def person(n):
    """First and last name of person N (0-based), varied enough to search."""
    return FIRST[n % 26], LAST[(n // 26) % 26] + ("" if n < 676 else str(n // 676))


def row(service, n):
    """Row N (0-based) of SERVICE as first generated: rev n + 1."""
    rev = n + 1
    if service == "users":
        first, last = person(n)
        name = "user%06d" % n
        return {"id": "u%06d" % n, "rev": rev, "username": name, "display_name": "%s %s" % (first, last),
                "email": "%s@%s" % (name, DOMAIN), "aliases": ["%s@%s" % (name, DOMAIN)]}
    if service == "findme":
        name = "user%06d" % n
        return {"id": "f%06d" % n, "rev": rev, "user": "u%06d" % n, "alias": "%s.findme@%s" % (name, DOMAIN),
                "active_location": "Office",
                "locations": [{"name": "Office", "devices": ["%s.desk@%s" % (name, DOMAIN),
                                                           "%s.room@%s" % (name, DOMAIN)]},
                              {"name": "Home", "devices": ["%s.home@%s" % (name, DOMAIN)]},
                              {"name": "Mobile", "devices": ["%s.mobile@%s" % (name, DOMAIN)]}]}
    if service == "phonebooks":
        first, last = person(n * 7919 % 1_000_003)
        return {"id": "e%07d" % n, "rev": rev, "book": BOOKS[n % len(BOOKS)], "name": "%s %s" % (first, last),
                "uri": "sip:pb%07d@%s" % (n, DOMAIN), "number": "+44%09d" % n}
    if service == "templates":
        return {"id": "t%04d" % n, "rev": rev, "name": "Template %d" % n,
                "device_type": ("room", "desk", "soft")[n % 3],
                "body": "<configuration><display>Template %d</display></configuration>" % n}
    raise ValueError("no such service: %s" % service)
