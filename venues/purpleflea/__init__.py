"""Purple Flea adapter: the HTTP trading API as described in the project's SEEDS ("Purple Flea
trading API (as documented in the sources)", restated in ``venues/purpleflea/API_NOTES.md``),
incl. its native atomic pair orders.

Modules: ``constants`` (base URL, paths, field values, assumed limits), ``parse`` (payload →
``venues.model`` types), ``orders`` (order bodies, our record of orders), ``rest`` (raw
endpoints, bearer auth, error mapping), ``client`` (``PurpleFleaVenue``, ``create_venue``).
Every assumption beyond the SEEDS is listed in ``API_NOTES.md`` beside this file.
"""
