"""What every Baseliner task family does the same way, kept in one place.

Each family folder holds a link ``familykit -> ../_shared/familykit`` (as it does for lmkit),
so the code travels inside the family's version hash: a change here changes every family's
version. Nothing here is copied into a workspace.

- ``workspace``: where the task folder is ($HOME, METR's /home/agent when unset).
- ``scorer``: running a family's scorer as its own process group, as the workspace user with the
  family's protected group when root scores, under a time limit, and reading its result.
- ``scores``: invalid results, "not comparable" marks and the two aggregations (best, last).
"""
