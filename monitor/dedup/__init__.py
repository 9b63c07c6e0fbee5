"""Story identity across feeds: near-duplicate fingerprints, the false-merge guard, and story keys.

See docs/dedup.md. `fingerprint`, `same_story` and `assign_stories` are pure; `lookup` reads the
store.
"""
