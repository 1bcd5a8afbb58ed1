"""Purple Flea adapter: the HTTP trading API of SEEDS.md § "Purple Flea trading API (as
documented in the sources)", incl. its native atomic pair orders.

Modules: ``constants`` (base URL, paths, field values, assumed limits), ``parse`` (payload →
``venues.model`` types), ``orders`` (order bodies, our record of orders), ``rest`` (raw
endpoints, bearer auth, error mapping), ``client`` (``PurpleFleaVenue``, ``create_venue``).
Every assumption beyond SEEDS.md is listed in ``API_NOTES.md`` beside this file.
"""
